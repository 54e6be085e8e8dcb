"""The window's tools, shared by every room: widgets, charts, theme, icons, where resources are,
the background-task helper and the app's own background processes. Imports no core concept (only
errors and priority).
"""
