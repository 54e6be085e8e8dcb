"""Kindred: chat with your own local assistant, and keep what it learned."""

__version__ = "0.1.0"
