"""The PySide6 desktop app. Views live here; every decision about data lives in `kindred.core`."""
