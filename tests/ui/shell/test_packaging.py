"""The desktop integration files are well formed and agree with each other and the app."""

from __future__ import annotations

import configparser
import xml.etree.ElementTree as ET
from pathlib import Path

from PySide6.QtGui import QIcon

ROOT = Path(__file__).resolve().parents[3]
APP_ID = "io.github.kindred.Kindred"


def test_desktop_file_launches_kindred_with_our_icon() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(ROOT / "packaging" / f"{APP_ID}.desktop", encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Exec"].split()[0] == "kindred"
    assert entry["Icon"] == APP_ID
    assert (ROOT / "packaging" / "icons" / f"{APP_ID}.svg").is_file()


def test_metainfo_names_the_desktop_file(qapp) -> None:  # type: ignore[no-untyped-def]
    root = ET.parse(ROOT / "packaging" / f"{APP_ID}.metainfo.xml").getroot()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"  # type: ignore[union-attr]
    assert root.findtext("project_license") == "Apache-2.0"
    icon = QIcon(str(ROOT / "packaging" / "icons" / f"{APP_ID}.svg"))
    assert not icon.pixmap(64, 64).isNull()
