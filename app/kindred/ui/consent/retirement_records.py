"""A retired version's interview and post-deployment report, as people read them: History's
records section, and the window the successor's consent dialog opens from its links."""

from __future__ import annotations

from html import escape

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from kindred.core.archive import versions
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.states import VersionStatus
from kindred.core.home.store import Store
from kindred.core.upgrades import retirement
from kindred.ui.kit.widgets import fit_to_screen

LINK = "record:"  # href prefix of a link to a version's records


def record_html(store: Store, version_id: VersionId) -> str:
    """History's section for a retired version: its interview and report (escaped)."""
    parts: list[str] = []
    try:
        interview = retirement.interview_for(store, version_id)
        version = versions.get_version(store, version_id)
        retired = version.status == VersionStatus.RETIRED
        report = retirement.report_for(store, version_id) if retired else None
    except KindredError as exc:
        return f"<p><b>Retirement records:</b> {escape(str(exc))}</p>"
    if interview is not None:
        parts.append(f"<h3>Retirement interview</h3><p style='color:gray'>Question set "
                     f"{escape(interview.content['questions'])}, greedy, answers verbatim "
                     f"(sha256 {interview.sha256[:12]}).</p>")
        for item in interview.content["answers"]:
            parts.append(f"<p><b>{escape(item['question'])}</b><br>"
                         f"{escape(item['answer']).replace(chr(10), '<br>')}</p>")
    elif retired and version_id in retirement.pending(store, version.assistant_id):
        parts.append("<h3>Retirement interview</h3><p>Being held in the background: it "
                     "answers a few questions about its time with you. It shows here when "
                     "done.</p>")
    elif retired:
        parts.append("<h3>Retirement interview</h3><p>None: it was never used, so it has "
                     "nothing to tell about its time in use.</p>")
    if report is not None:
        rows = "".join(f"<tr><td><b>{escape(k)}</b>&nbsp;&nbsp;</td><td>{escape(v)}</td></tr>"
                       for k, v in retirement.report_lines(report.content))
        parts.append(f"<h3>Post-deployment report</h3><table>{rows}</table>")
    return "".join(parts)


def records_link(store: Store, assistant_id: AssistantId, version_id: VersionId,
                 sha256: str | None) -> str:
    """A consent dialog's line for one predecessor: a link when its interview is held."""
    name = escape(versions.names(store, assistant_id).get(version_id, version_id[:12]))
    if sha256 is None:
        return (f"{name} is interviewed when it steps down; its interview and report will "
                "be in History.")
    return (f"<a href='{LINK}{escape(version_id)}'>Read {name}'s retirement interview and "
            "report</a>")


class RecordsDialog(QDialog):
    """One version's records in a window of their own (read-only, selectable, escaped)."""

    def __init__(self, store: Store, version_id: VersionId, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        name = versions.names(store, versions.get_version(store, version_id).assistant_id
                              ).get(version_id, version_id[:12])
        self.setWindowTitle(f"{name}: retirement interview and report")
        self.setObjectName("recordsDialog")
        fit_to_screen(self, 620, 560)
        self.browser = QTextBrowser()
        self.browser.setHtml(record_html(store, version_id))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)
