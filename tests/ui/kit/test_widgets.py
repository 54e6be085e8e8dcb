"""Markdown answers render faithfully; the composer sends on Enter only."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QTextFormat

from kindred.ui.kit.widgets import MarkdownView


def test_markdown_keeps_angle_brackets_and_renders_formatting(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = MarkdownView()
    qtbot.addWidget(view)
    view.set_markdown("#include <stdio.h>\n\n**bold** and `x < y`\n\n```c\nint f(void);\n```\n")
    plain = view.toPlainText()
    assert "#include <stdio.h>" in plain  # not swallowed as an HTML tag
    assert "bold and x < y" in plain and "**" not in plain
    assert view.markdown.startswith("#include")  # Copy copies the source
    code = [b for b in _blocks(view) if b.text() == "int f(void);"]
    assert code and code[0].blockFormat().background().style() != 0  # shaded


def test_height_follows_content(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = MarkdownView()
    qtbot.addWidget(view)
    view.resize(300, 10)
    view.set_markdown("one line")
    short = view.height()
    view.set_markdown("\n\n".join(f"paragraph {i}" for i in range(12)))
    assert view.height() > short * 4


def _blocks(view: MarkdownView) -> list:  # type: ignore[type-arg]
    block, out = view.document().begin(), []
    while block.isValid():
        out.append(block)
        block = block.next()
    assert QTextFormat.Property.BlockCodeFence  # the property we shade by exists
    return out


def test_single_newlines_stay_line_breaks_outside_code(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = MarkdownView()
    qtbot.addWidget(view)
    view.set_markdown("Roses are red,\nviolets are blue.\n\n```\na = 1\nb = 2\n```")
    plain = view.toPlainText()
    assert "Roses are red,\u2028violets are blue." in plain or \
        "Roses are red,\nviolets are blue." in plain
    assert "a = 1\nb = 2" in plain  # code lines untouched (no trailing spaces added)
    assert view.markdown.startswith("Roses are red,\nviolets")  # the source is unchanged


def test_copy_code_link_under_each_finished_code_block(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = MarkdownView()
    qtbot.addWidget(view)
    view.resize(500, 10)
    view.show()
    streaming = "Try:\n\n```python\nprint('hi')\n"
    view.set_markdown(streaming)  # still streaming: the fence is open, no link yet
    assert view.code_blocks == [] and "Copy code" not in view.toPlainText()
    view.set_markdown(streaming + "```\n\nThen:\n\n~~~\nls -l\n~~~")
    assert view.code_blocks == ["print('hi')", "ls -l"]
    assert view.toPlainText().count("Copy code") == 2
    assert view.markdown.endswith("~~~")  # Copy (the whole answer) copies the source, no links
    copied: list[str] = []
    view.code_copied.connect(copied.append)
    # click the second link where it is drawn
    found = view.document().find("Copy code", view.document().find("Copy code").position())
    point = view.cursorRect(found).center()
    point.setX(point.x() - 20)  # inside the link text, left of the cursor's end
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert copied == ["ls -l"]
    assert QGuiApplication.clipboard().text() == "ls -l"
