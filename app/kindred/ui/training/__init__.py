"""Training: the Training page and its widgets, following a run, a candidate's review, and the base
prepared ahead of time.
"""
