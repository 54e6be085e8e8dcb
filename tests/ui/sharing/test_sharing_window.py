"""Other apps… in the window: off by default (nothing listens), turned on with the setting, the
official client talks to the window's own engine, and the chat keeps priority over the API."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import openai
import psutil
import pytest
from conftest_ui import send, wait_idle

from kindred.api import settings
from kindred.core.chat.usage import usage
from kindred.core.home.paths import DataHome
from kindred.ui.sharing.dialog import SharingDialog


def _listening() -> list[Any]:
    return [c for c in psutil.Process().net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_off_by_default_then_other_apps_talk_to_the_window_engine(
        qtbot, make_window, home: DataHome) -> None:  # type: ignore[no-untyped-def]
    port = _free_port()
    settings.update(home.root, port=port)
    window = make_window(max_tokens=12)
    assert window.sharing.server is None and _listening() == []  # off: nothing listens

    window.open_sharing()
    dialog = window.dialog
    assert isinstance(dialog, SharingDialog) and not dialog.serve.isChecked()
    dialog.serve.setChecked(True)  # the person turns it on
    assert window.sharing.running and dialog.address.text() == f"http://127.0.0.1:{port}/v1"
    assert [c.laddr for c in _listening()] == [("127.0.0.1", port)]
    assert settings.load(home.root).serving
    client = openai.OpenAI(base_url=dialog.address.text(), api_key=dialog.key.text(),
                           max_retries=0, timeout=60)
    name = window.controller.assistant.name
    assert [m.id for m in client.models.list()] == [f"kindred/{name}"]
    reply = client.chat.completions.create(model=f"kindred/{name}", max_tokens=4,
                                           messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].message.content
    data = usage(window.session.store, window.controller.assistant.id)
    assert data.per_version["base"]["other_apps"] == 1

    dialog.serve.setChecked(False)  # turned off: the socket is closed
    assert not window.sharing.running and _listening() == []
    assert not settings.load(home.root).serving


@pytest.mark.slow
def test_the_chat_comes_first_when_an_api_answer_is_being_written(
        qtbot, make_window, home: DataHome) -> None:  # type: ignore[no-untyped-def]
    settings.update(home.root, port=_free_port(), serving=True)  # left on: serves at start
    window = make_window(max_tokens=12)
    assert window.sharing.running
    client = openai.OpenAI(base_url=window.sharing.address,
                           api_key=settings.load(home.root).key, max_retries=0, timeout=60)
    name = window.controller.assistant.name

    # An API answer is being written when the person sends a chat message: the chat's answer
    # comes first (the API's pauses between two tokens), then the API's goes on to its end.
    api: dict[str, Any] = {}

    def ask() -> None:
        stream = client.chat.completions.create(
            model=f"kindred/{name}", max_tokens=60, temperature=1.0, seed=7, stream=True,
            messages=[{"role": "user", "content": "Tell me a long story about the sea."}])
        api["pieces"] = []
        for chunk in stream:
            if chunk.choices[0].delta.content:
                api["pieces"].append((time.monotonic(), chunk.choices[0].delta.content))
            if chunk.choices[0].finish_reason:
                api["finish"] = chunk.choices[0].finish_reason
        api["end"] = time.monotonic()

    thread = threading.Thread(target=ask)
    thread.start()
    qtbot.waitUntil(lambda: len(api.get("pieces", [])) >= 3, timeout=60_000)
    send(qtbot, window, "Hello there")
    wait_idle(qtbot, window)
    chat_done = time.monotonic()
    thread.join(120)
    assert api["finish"] in ("stop", "length") and api["end"] > chat_done
    assert window.sharing.host is not None and window.sharing.host.stretches >= 2  # paused
    assert "end" in api and len(api["pieces"]) > 3

    data = usage(window.session.store, window.controller.assistant.id)
    assert data.per_version["base"]["other_apps"] == 1
    assert data.per_version["base"]["messages"] == 1  # the chat's own answer
