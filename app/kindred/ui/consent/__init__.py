"""Asking consent in the window: the dialog that shows what will change, what is kept and the
evidence, then records the answer (and the retirement records it links to).
"""
