"""Other apps…: the setting "Let other apps on this computer talk to NAME", with the address
and the access key to copy into them (LM Studio-style clients, editors, scripts: anything that
speaks OpenAI's API), a new key on request, and whether those conversations are kept."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from kindred.api import settings
from kindred.ui.kit.widgets import error_label
from kindred.ui.sharing.sharing import Sharing


class SharingDialog(QDialog):
    def __init__(self, sharing: Sharing, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sharing = sharing
        name = sharing.controller.assistant.name
        self.setWindowTitle("Other apps")
        self.setMinimumWidth(560)
        self.serve = QCheckBox(f"Let other apps on this computer talk to {name}")
        self.serve.setObjectName("shareToggle")
        intro = QLabel(
            "Apps that speak OpenAI's API (editors, scripts, chat front-ends) can then use "
            f"{name} as it is now: its active version, or the blend while one phases in. "
            "Their answers count in Usage as from another app. Only this computer can "
            "connect, with the key; nothing they send can change a version.")
        intro.setWordWrap(True)
        self.address = QLineEdit(readOnly=True)
        self.model = QLineEdit(f"kindred/{name}", readOnly=True)
        self.key = QLineEdit(readOnly=True)
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        show = QCheckBox("Show")
        show.toggled.connect(lambda on: self.key.setEchoMode(
            QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password))
        self.new_key = QPushButton("New key")
        self.new_key.setToolTip("Apps using the old key are refused from their next request.")
        self.new_key.clicked.connect(self._new_key)
        grid = QGridLayout()
        for row, (label, field, extra) in enumerate([
                ("Address", self.address, None), ("Model", self.model, None),
                ("Key", self.key, show)]):
            grid.addWidget(QLabel(label), row, 0)
            grid.addWidget(field, row, 1)
            copy = QPushButton("Copy")
            copy.clicked.connect(lambda _=False, f=field: self._copy(f.text()))
            grid.addWidget(copy, row, 2)
            if extra is not None:
                grid.addWidget(extra, row, 3)
        grid.addWidget(self.new_key, 2, 4)
        self.keep = QCheckBox("Keep these conversations in the history (otherwise only "
                              "counted)")
        self.keep.toggled.connect(lambda on: settings.update(sharing.home, keep_content=on))
        self.state = QLabel()
        self.state.setObjectName("shareState")
        self.state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = error_label()
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        for widget in (self.serve, intro):
            layout.addWidget(widget)
        layout.addLayout(grid)
        for widget in (self.keep, self.state, self.error):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        self.refresh()
        self.serve.toggled.connect(self._toggled)
        sharing.changed.connect(self.refresh)

    def refresh(self) -> None:
        saved = self.sharing.settings
        self.serve.blockSignals(True)
        self.serve.setChecked(self.sharing.running)
        self.serve.blockSignals(False)
        self.keep.blockSignals(True)
        self.keep.setChecked(saved.keep_content)
        self.keep.blockSignals(False)
        self.address.setText(self.sharing.address)
        self.key.setText(saved.key)
        self.state.setText(f"Listening at {self.sharing.address}" if self.sharing.running
                           else "Off: nothing is listening.")
        self.error.setText(self.sharing.error)
        self.error.setVisible(bool(self.sharing.error))

    def _toggled(self, on: bool) -> None:
        if on:
            self.sharing.start()
        else:
            self.sharing.stop()
        self.refresh()

    def _new_key(self) -> None:
        settings.regenerate_key(self.sharing.home)
        self.refresh()

    def _copy(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
