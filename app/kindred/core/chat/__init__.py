"""Talking to the assistant: the llama.cpp engine, chat turns, conversations, usage."""
