"""Talking: the chat page and its controller, one message, the llama.cpp engine's worker thread,
the conversations in the sidebar and their dialogs, earlier answers.
"""
