"""The frame of the window: the application and its start-up (pre-flight checks before Qt, one
instance per data home, timings), the main window that holds the pages, and About.
"""
