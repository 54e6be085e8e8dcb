"""History: the assistant's lineage of adapter versions, and what can be done with each.

Every version stays archived. Restore, and retiring the active version, go through the consent
dialog; the core refuses them without the recorded "yes". Import and Export run in the
background with their own database connection (they hash files).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QTreeWidgetItem,
    QWidget,
)

from kindred.core.archive import catalog, versions
from kindred.core.archive.versions import Version
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import VersionId
from kindred.core.basics.states import VersionStatus
from kindred.core.home import consent
from kindred.core.home.assistants import Assistant, get_assistant
from kindred.core.home.consent import ConsentRequest
from kindred.core.home.models import list_models
from kindred.core.session import Session
from kindred.ui.archive import transfer
from kindred.ui.archive.compare import CompareDialog
from kindred.ui.archive.history_page import COLUMNS, HistoryPage
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.consent.flow import open_for_version
from kindred.ui.consent.retirement_records import record_html
from kindred.ui.kit.icons import icon
from kindred.ui.kit.tasks import Task
from kindred.ui.kit.theme import mix
from kindred.ui.ops.changes import Change
from kindred.ui.ops.op import run_op

BASE = "base"
VERSION_KINDS = ("activate", "restore", "retire", "delete")


def duration(seconds: float) -> str:
    if seconds <= 0:
        return "—"
    minutes = seconds / 60
    if minutes < 60:
        return f"{max(minutes, 1):.0f} min"
    hours = minutes / 60
    if hours < 48:
        return f"{hours:.0f} h"
    return f"{hours / 24:.0f} days"


def _source(version: versions.Version) -> str:
    """How a version came to be; a migrated one names the base it moved to (the lineage crosses
    bases there)."""
    if version.source == "migrated":
        return f"migrated to {version.manifest.get('base', {}).get('name', 'another model')}"
    return version.source


class HistoryView(HistoryPage):
    """History's flows (the layout: `history_page`)."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)  # lays the page out
        self.session = session
        self.assistant: Assistant = session.assistant()
        self.dialog: QWidget | None = None
        self.names: dict[str, str] = {}
        self.task: Task | None = None
        self.review_button.clicked.connect(self.review_pending)
        self.import_menu.addAction("Adapter file (.gguf, .safetensors)…", self._pick_import_file)
        self.import_menu.addAction("PEFT adapter folder…", self._pick_import_folder)
        self.restore_button.clicked.connect(lambda: self.restore(self.selected()))
        self.compare_button.clicked.connect(lambda: self.compare(self.selected()))
        self.export_button.clicked.connect(self._pick_export)
        self.retire_button.clicked.connect(lambda: self.retire(self.selected()))
        self.tree.currentItemChanged.connect(lambda *_: self._update_actions())
        self.refresh()

    # -- content -----------------------------------------------------------------------------

    def set_assistant(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        self.refresh()
        super().showEvent(event)

    def refresh(self) -> None:
        store = self.session.store
        self.assistant = get_assistant(store, self.assistant.id)
        aid = self.assistant.id
        self.title.setText(f"History of {self.assistant.name}")
        selected = self.selected()
        selected_id = selected.id if selected is not None else BASE
        all_versions = versions.list_versions(store, aid)
        self.names = versions.names(store, aid)
        periods = versions.active_periods(store, aid)
        counts = versions.usage_counts(store, aid)
        self.tree.clear()
        model = self.session.model_for(self.assistant)
        root = QTreeWidgetItem([f"Base model · {model.name}", "", "base", "in use alone"
                                if not self.assistant.active_version else "under each version",
                                "", ""])
        root.setData(0, Qt.ItemDataRole.UserRole, BASE)
        root.setIcon(0, icon("model"))
        self.tree.addTopLevelItem(root)
        items: dict[str, QTreeWidgetItem] = {BASE: root}
        # a lineage begun on another base (before a move) stands under that base, not this one
        earlier = {m.sha256: m.name for m in list_models(store)}
        roots: dict[str, QTreeWidgetItem] = {model.sha256: root}
        for v in all_versions:
            if v.parent is None and v.base_sha256 not in roots:
                named = earlier.get(v.base_sha256, f"{v.base_sha256[:12]} (removed)")
                other = QTreeWidgetItem([f"Earlier base model · {named}", "", "base",
                                         "not in use", "", ""])
                other.setFlags(Qt.ItemFlag.ItemIsEnabled)  # a heading: nothing to act on
                other.setIcon(0, icon("model"))
                other.setToolTip(0, "Versions begun on this model before a move; Move to "
                                 "another model… goes back to it")
                self.tree.addTopLevelItem(other)
                roots[v.base_sha256] = other
        for v in all_versions:
            active_for = sum(((end or time.time()) - start) for start, end in periods.get(v.id, []))
            item = QTreeWidgetItem([
                self.names.get(v.id, v.short),
                datetime.fromtimestamp(v.created_at).strftime("%Y-%m-%d %H:%M"),
                _source(v), v.status, duration(active_for), str(counts.get(v.id, 0))])
            item.setData(0, Qt.ItemDataRole.UserRole, v.id)
            item.setToolTip(0, f"{self.names.get(v.id, v.short)}\nid {v.id}")
            if v.status == VersionStatus.ACTIVE:
                font = item.font(0)
                font.setBold(True)
                for col in range(len(COLUMNS)):
                    item.setFont(col, font)
            if v.status == VersionStatus.ACTIVE:
                item.setForeground(3, self.palette().brush(QPalette.ColorRole.Link))
            if v.status in (VersionStatus.REFUSED, VersionStatus.RETIRED, VersionStatus.DELETED):
                muted = QColor(mix(self.palette().color(QPalette.ColorRole.Text),
                                   self.palette().color(QPalette.ColorRole.Base), 0.45))
                for col in range(len(COLUMNS)):
                    item.setForeground(col, muted)
            if v.status == VersionStatus.DELETED:
                font = item.font(0)
                font.setStrikeOut(True)
                item.setFont(0, font)
                item.setToolTip(0, f"{v.id}\nDeleted: only its record and hashes remain.")
            parent = items[v.parent] if v.parent in items else roots.get(v.base_sha256, root)
            parent.addChild(item)
            items[v.id] = item
        self.tree.expandAll()
        self.tree.setCurrentItem(items.get(selected_id, root))
        self.disk.setText(catalog.describe_size(catalog.archive_size(store, aid)))
        pending = self.pending()
        self.banner.setVisible(bool(pending))
        if pending:
            self.banner_label.setText(
                f"{len(pending)} request{'s' if len(pending) > 1 else ''} awaiting your "
                f"answer: {pending[0].summary}")
        self._update_actions()
        if not all_versions:
            self.details.setText("No versions yet. They appear here after training, or when "
                                 "you import an adapter.")

    def pending(self) -> list[ConsentRequest]:
        return [r for r in consent.pending(self.session.store, self.assistant.id)
                if r.kind in VERSION_KINDS]

    def selected(self) -> Version | None:
        item = self.tree.currentItem() if hasattr(self, "tree") else None
        key = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if not key or key == BASE:
            return None
        try:
            return versions.get_version(self.session.store, key)
        except KindredError:
            return None

    def select(self, version_id: VersionId | None) -> None:
        """Select a row by version id (None: the base model row)."""
        wanted = version_id or BASE
        top = self.tree.topLevelItem(0)
        iterator = [top] if top is not None else []
        while iterator:
            item = iterator.pop()
            if item.data(0, Qt.ItemDataRole.UserRole) == wanted:
                self.tree.setCurrentItem(item)
                return
            iterator += [child for i in range(item.childCount())
                         if (child := item.child(i)) is not None]

    def _update_actions(self) -> None:
        version = self.selected()
        if version is None:  # the base model row
            self.restore_button.setText("Use base model")
            self.restore_button.setEnabled(bool(self.assistant.active_version))
            self.retire_button.setEnabled(False)
            self.compare_button.setEnabled(False)
            self.details.setText("The base model alone, without any adapter.")
            self.records.hide()
            return
        kind = versions.consent_kind_for(self.session.store, version)
        self.restore_button.setText("Restore" if kind == "restore" else "Activate")
        status = version.status
        self.restore_button.setEnabled(status not in (VersionStatus.ACTIVE, VersionStatus.DELETED))
        self.retire_button.setEnabled(status not in (VersionStatus.RETIRED, VersionStatus.DELETED))
        self.compare_button.setEnabled(version.status != VersionStatus.DELETED)
        parent = (self.names.get(version.parent, version.parent[:12]) if version.parent
                  else "none (base model)")
        self.details.setText(
            f"{self._name(version)} · id {version.id}\nParent: {parent} · "
            f"size {version.size_bytes / 1e6:.1f} MB · status since "
            f"{datetime.fromtimestamp(version.status_at).strftime('%Y-%m-%d %H:%M')}")
        records = record_html(self.session.store, version.id)
        self.records.setHtml(records)
        self.records.setVisible(bool(records))

    def _name(self, version: Version) -> str:
        return self.names.get(version.id) or versions.name_of(self.session.store, version)

    def say(self, text: str, *, error: bool = False) -> None:
        """A line under the list that stays until the next one (the status bar's message fades)."""
        self.status.setText(text)
        self.status.setProperty("error", error)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)

    # -- consent-gated actions ---------------------------------------------------------------

    def restore(self, version: Version | None) -> None:
        """Activate or restore `version` (None: go back to the base model) after consent."""
        if version is None:
            current = versions.active_version(self.session.store, self.assistant.id)
            if current is not None:
                self.retire(current)
            return
        store = self.session.store
        kind, summary, evidence = versions.describe_activation(store, version)
        current = versions.active_version(store, self.assistant.id)
        now_using = self._name(current) if current else "the base model alone"
        self._ask(kind, version.id, summary, evidence,
                  changes=f"{self.assistant.name} will answer through {self._name(version)} "
                          f"instead of {now_using}, from the next message on.",
                  kept=(f"Everything. {now_using.capitalize()} stays archived and can be "
                        "restored at any time" if current else "Everything. The base model "
                        "alone stays one step away (Use base model)") + "; every other "
                       "version, your conversations and the learning data are untouched.")

    def retire(self, version: Version | None) -> None:
        if version is None:
            return
        if version.status != VersionStatus.ACTIVE:
            try:
                versions.retire(self.session.store, version.id)
            except KindredError as exc:
                self.say(str(exc), error=True)
                return
            self.say(f"{self._name(version)} retired. Its weights are kept; restore it any "
                     "time.")
            self.refresh()
            return
        kind, summary, evidence = versions.describe_retire(self.session.store, version)
        evidence = {**evidence, "source": version.source, "created_at": version.created_at}
        self._ask(kind, version.id, summary, evidence,
                  changes=f"{self.assistant.name} stops using {self._name(version)} and "
                          "answers with the base model alone.",
                  kept=f"{self._name(version)} stays archived with all its files; you can "
                       "restore it at any time.")

    def _ask(self, kind: str, subject: str, summary: str, evidence: dict[str, object], *,
             changes: str, kept: str) -> None:
        try:
            dialog = ConsentDialog.ask(self.session.store, kind, self.assistant.id, subject,
                                       summary, dict(evidence), changes=changes, kept=kept,
                                       parent=self)
        except KindredError as exc:
            self.say(str(exc), error=True)
            return
        self._open_consent(dialog)

    def review_pending(self) -> None:
        """Answer the oldest open request (e.g. one asked earlier and left open)."""
        pending = self.pending()
        if not pending:
            return
        req = pending[0]
        dialog = ConsentDialog(self.session.store, req,
                               changes=req.summary, kept="Every version stays archived.",
                               parent=self)
        self._open_consent(dialog)

    def _open_consent(self, dialog: ConsentDialog) -> None:
        dialog.finished.connect(lambda _r: self.refresh())  # answered or closed: as it is now
        self.dialog = open_for_version(dialog, lambda text, error: self.say(text, error=error))

    # -- compare, import, export -------------------------------------------------------------

    def compare(self, version: Version | None) -> None:
        if version is None:
            return
        store = self.session.store
        current = versions.active_version(store, self.assistant.id)
        if current is not None and current.id != version.id:
            left: Version | None = current
        elif version.parent:
            left = versions.get_version(store, version.parent)
        else:
            left = None
        if left is not None and left.status == VersionStatus.DELETED:
            left = None
        dialog = CompareDialog(self.session.home.root, self.assistant.id, left, version, self,
                               names=self.names)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.open()

    def _pick_import_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Import an adapter", str(Path.home()),
            "Adapters (*.gguf *.safetensors);;All files (*)")
        if name:
            self.import_from(name)

    def _pick_import_folder(self) -> None:
        name = QFileDialog.getExistingDirectory(self, "Import a PEFT adapter folder",
                                                str(Path.home()))
        if name:
            self.import_from(name)

    def import_from(self, path: str) -> None:
        if self.task is not None:
            return
        self.say(f"Checking and archiving {Path(path).name}…")
        home, aid = self.session.home.root, self.assistant.id
        self.task = run_op(home, lambda op: transfer.import_in_home(op, aid, path),
                           on_done=self._imported, on_error=self._failed,
                           changes=(Change.VERSIONS,), parent=self)

    def _imported(self, version: Version) -> None:
        self.task = None
        self.refresh()
        self.select(version.id)
        self.say(f"Imported as candidate {version.short}. Activate it to talk to it "
                 "(you will be asked).")

    def _pick_export(self) -> None:
        default = str(Path.home() / f"{self.assistant.name}.kindred")
        name, _ = QFileDialog.getSaveFileName(self, "Export assistant", default,
                                              "Kindred bundles (*.kindred);;All files (*)")
        if name:
            self.export_to(name)

    def export_to(self, path: str) -> None:
        if self.task is not None:
            return
        self.say(f"Exporting {self.assistant.name}…")
        home, aid = self.session.home.root, self.assistant.id
        self.task = run_op(home, lambda op: transfer.export_in_home(op, aid, path),
                           on_done=self._exported, on_error=self._failed, parent=self)

    def _exported(self, result: object) -> None:
        self.task = None
        path = getattr(result, "path", "")
        count = getattr(result, "versions", 0)
        size = getattr(result, "size_bytes", 0) / 1e6
        self.say(f"Exported {self.assistant.name} with {count} version(s) to {path} "
                 f"({size:.1f} MB).")
        self.refresh()

    def _failed(self, message: str) -> None:
        self.task = None
        self.say(message, error=True)
        self.refresh()
