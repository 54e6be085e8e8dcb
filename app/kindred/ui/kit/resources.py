"""Where the app's own files (stylesheet, icons) are: the checkout's `resources/`, or the folder
`KINDRED_RESOURCES` names (a frozen app points it inside its bundle)."""

from __future__ import annotations

import os
from pathlib import Path

RESOURCES = Path(os.environ.get("KINDRED_RESOURCES")
                 or Path(__file__).resolve().parents[4] / "resources")
