"""The local API against a real `kindred serve` on the embedded model, through the official
`openai` client (and raw HTTP where the client would not send the mistake).

One server for the whole module (its own data home, prepared before it starts): a second
assistant on the same base is phasing a version in, so its answers go through the blend.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from kindred.api import settings
from kindred.core.basics.sampling import Sampling
from kindred.core.chat.usage import usage
from kindred.core.home import consent
from kindred.core.home.assistants import create_assistant, update_assistant
from kindred.core.session import open_session
from kindred.core.upgrades import rollout
from kindred.core.upgrades.rollout import Plan
from support.archive_helpers import activate, make_version
from support.cli import kindred

GREEDY = Sampling(temperature=0.0, top_k=1, max_tokens=6)


@dataclass
class Served:
    home: Path
    url: str
    proc: subprocess.Popen[str]
    a: str  # the phaser's active version
    b: str  # the version it is phasing in

    @property
    def key(self) -> str:
        return settings.load(self.home).key

    def client(self, key: str | None = None, **kw: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=key or self.key, max_retries=0,
                             timeout=60, **kw)

    def rows(self) -> list[tuple[Any, ...]]:
        s = open_session(self.home)
        try:
            return s.store.db.execute(
                "SELECT assistant_id, adapters, tokens_out, finish_reason, message_id "
                "FROM api_answers ORDER BY id").fetchall()
        finally:
            s.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("served")
    s = open_session(home)
    update_assistant(s.store, s.assistant().id, sampling=GREEDY)
    phaser = create_assistant(s.store, "Phaser", persona="You are terse.")
    update_assistant(s.store, phaser.id, sampling=GREEDY)
    a = activate(s, make_version(s, model_path, seed=0, assistant=phaser))
    b = make_version(s, model_path, seed=1, parent=a.id, assistant=phaser)
    plan = Plan(steps=4, every_answers=2)
    kind, summary, evidence = rollout.describe_start(s.store, b, plan)
    req = consent.request(s.store, kind, phaser.id, b.id, summary, evidence)
    rollout.start(s.store, b.id, plan, consent.decide(s.store, req.id, granted=True, via="gui"))
    s.close()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kindred", "serve", "--home", str(home), "--port", str(port),
         "--threads", "1"], stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stderr is not None
    line = proc.stderr.readline()  # "Serving Kindred at http://127.0.0.1:PORT/v1 ..."
    assert f"http://127.0.0.1:{port}/v1" in line, line + proc.stderr.read()
    yield Served(home, f"http://127.0.0.1:{port}/v1", proc, a.id, b.id)
    proc.send_signal(signal.SIGINT)  # Ctrl+C
    assert proc.wait(30) == 0
    with proc.stderr:
        assert "Stopped." in proc.stderr.read()


def _post(served: Served, body: bytes, key: str | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        served.url + "/chat/completions", data=body, method="POST",
        headers={"Content-Type": "application/json",
                 "Authorization": f"Bearer {key or served.key}", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _ask(client: openai.OpenAI, text: str = "Say hello.", model: str = "kindred/Kindred",
         **kw: Any) -> Any:
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], **kw)


def test_models_are_the_assistants(served: Served) -> None:
    ids = sorted(m.id for m in served.client().models.list())
    assert ids == ["kindred/Kindred", "kindred/Phaser"]
    assert served.client().models.retrieve("kindred/Phaser").owned_by == "kindred"


def test_a_plain_and_a_streamed_answer_are_the_same_and_counted_not_stored(
        served: Served) -> None:
    client = served.client()
    before = len(served.rows())
    whole = _ask(client, max_tokens=8, temperature=0, seed=3)
    text = whole.choices[0].message.content
    assert text and whole.choices[0].finish_reason in ("stop", "length")
    assert whole.model == "kindred/Kindred" and whole.usage.completion_tokens <= 8
    assert whole.usage.prompt_tokens > 5  # the assistant's persona came first
    chunks = list(_ask(client, max_tokens=8, temperature=0, seed=3, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    assert {c.id for c in chunks} == {chunks[0].id}
    rows = served.rows()[before:]
    assert [(r[1], r[4]) for r in rows] == [("[]", None)] * 2  # the base, no text kept
    s = open_session(served.home)
    try:
        data = usage(s.store, s.assistant("Kindred").id)
        assert data.per_version["base"]["other_apps"] >= 2
        assert data.per_version["base"]["messages"] == 0  # nothing in the history
        assert s.store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0
    finally:
        s.close()


def test_stop_strings_and_max_tokens(served: Served) -> None:
    client = served.client()
    free = _ask(client, "Count: 1, 2, 3, 4,", max_tokens=12, temperature=0)
    text = free.choices[0].message.content
    assert len(text) > 3
    cut = text[2:4]  # some characters inside the answer
    stopped = _ask(client, "Count: 1, 2, 3, 4,", max_tokens=12, temperature=0, stop=[cut])
    assert stopped.choices[0].message.content == text[:text.find(cut)]
    assert stopped.choices[0].finish_reason == "stop"


def test_the_key_is_required(served: Served) -> None:
    with pytest.raises(openai.AuthenticationError) as wrong:
        served.client("kindred-not-the-key").models.list()
    assert wrong.value.status_code == 401
    assert wrong.value.body["code"] == "invalid_api_key"  # type: ignore[index]
    req = urllib.request.Request(served.url + "/models")  # no Authorization at all
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(req, timeout=10)
    assert missing.value.code == 401
    assert json.loads(missing.value.read())["error"]["type"] == "invalid_request_error"


def test_mistakes_are_openai_errors_and_change_nothing(served: Served) -> None:
    before = served.rows()
    status, body = _post(served, b'{"model": "kindred/Kindred", "messages": [')
    assert status == 400 and body["error"]["message"] == "The request body is not valid JSON."
    with pytest.raises(openai.NotFoundError) as unknown:
        _ask(served.client(), model="gpt-4o")
    assert unknown.value.body["code"] == "model_not_found"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as limit:
        _ask(served.client(), max_tokens=10**6)
    assert limit.value.body["param"] == "max_tokens"  # type: ignore[index]
    status, body = _post(served, json.dumps(
        {"model": "kindred/Kindred", "messages": [{"role": "user", "content": "x" * 2_000_000}]}
    ).encode())
    assert status == 413 and body["error"]["code"] == "request_too_large"
    status, body = _post(served, json.dumps(
        {"model": "kindred/Kindred", "messages": [{"role": "system", "content": "hi"}]}
    ).encode())
    assert status == 400 and body["error"]["param"] == "messages"
    assert served.rows() == before


def test_a_prompt_longer_than_the_context_gets_the_chat_window_policy(served: Served) -> None:
    long = " ".join(f"word{i}" for i in range(6000))  # far over the 4096-token context
    answer = served.client().chat.completions.create(
        model="kindred/Kindred", max_tokens=4,
        messages=[{"role": "user", "content": long},
                  {"role": "assistant", "content": "Yes."},
                  {"role": "user", "content": "Say hi."}])
    assert answer.choices[0].message.content
    assert answer.usage.prompt_tokens < 4096


def test_four_clients_at_once_are_all_answered(served: Served) -> None:
    before = len(served.rows())
    results: list[str] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            reply = _ask(served.client(), f"Name a colour ({i}).", max_tokens=6,
                         stream=i % 2 == 0)
            if i % 2 == 0:
                results.append("".join(c.choices[0].delta.content or "" for c in reply))
            else:
                results.append(reply.choices[0].message.content)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 4 and all(results)
    assert len(served.rows()) == before + 4


def test_a_cancelled_stream_frees_the_engine(served: Served) -> None:
    before = len(served.rows())
    stream = _ask(served.client(), "Write a very long story about a dragon.",
                  max_tokens=3000, stream=True, temperature=1.0)
    got = 0
    for chunk in stream:
        got += bool(chunk.choices[0].delta.content)
        if got >= 3:
            break
    stream.close()  # the client goes away mid-answer
    began = time.monotonic()
    quick = _ask(served.client(), max_tokens=4)  # answered at once: the engine is free
    assert quick.choices[0].message.content
    assert time.monotonic() - began < 10
    deadline = time.monotonic() + 10
    while len(served.rows()) < before + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    cancelled = served.rows()[before]
    assert cancelled[3] == "cancelled" and cancelled[2] < 200  # stopped, and still counted


def test_a_version_phasing_in_answers_through_the_blend_and_is_counted(
        served: Served) -> None:
    client = served.client()
    s = open_session(served.home)
    phaser = s.assistant("Phaser").id
    step = rollout.current(s.store, phaser).step  # type: ignore[union-attr]
    s.close()
    before = len(served.rows())
    for _ in range(2):  # the pace: a step every 2 answers
        assert _ask(client, model="kindred/Phaser", max_tokens=4).choices[0].message.content
    rows = served.rows()[before:]
    assert [json.loads(r[1]) for r in rows] == [[[served.a, 0.75], [served.b, 0.25]]] * 2
    s = open_session(served.home)
    try:
        now = rollout.current(s.store, phaser)
        assert now is not None and now.step == step + 1  # the API's answers counted for it
        assert usage(s.store, phaser).per_version[served.a]["other_apps"] == 2
    finally:
        s.close()
    shown = kindred("usage", "--assistant", "Phaser", "--json", home=served.home)
    assert json.loads(shown.stdout)["per_version"][served.a]["other_apps"] == 2
    _ask(client, model="kindred/Phaser", max_tokens=4)
    assert json.loads(served.rows()[-1][1]) == [[served.a, 0.5], [served.b, 0.5]]


def test_kept_conversations_when_the_person_says_so(served: Served) -> None:
    settings.update(served.home, keep_content=True)
    try:
        reply = _ask(served.client(), "Remember this request.", max_tokens=4)
    finally:
        settings.update(served.home, keep_content=False)
    s = open_session(served.home)
    try:
        title, user, answer = s.store.db.execute(
            "SELECT c.title, u.content, m.content FROM api_answers a "
            "JOIN messages m ON m.id = a.message_id JOIN conversations c "
            "ON c.id = m.conversation_id JOIN messages u ON u.conversation_id = c.id "
            "AND u.role = 'user' ORDER BY a.id DESC LIMIT 1").fetchone()
        assert title.startswith("From another app") and user == "Remember this request."
        assert answer == reply.choices[0].message.content
        data = usage(s.store, s.assistant("Kindred").id)
        assert data.per_version["base"]["messages"] == 0  # counted once, as from another app
    finally:
        s.close()


def test_a_new_key_refuses_the_old_one_at_once(served: Served) -> None:
    old = served.key
    shown = kindred("serve", "--show-key", home=served.home)
    assert shown.returncode == 0 and shown.stdout.strip() == old
    new = kindred("serve", "--new-key", home=served.home).stdout.strip()
    assert new != old and new.startswith("kindred-")
    with pytest.raises(openai.AuthenticationError):
        served.client(old).models.list()
    assert served.client(new).models.list().data
    assert (served.home / "api.json").stat().st_mode & 0o077 == 0  # the person's only


def test_another_host_is_refused_without_the_explicit_flag(tmp_path: Path) -> None:
    refused = kindred("serve", "--host", "0.0.0.0", home=tmp_path / "h", timeout=60)
    assert refused.returncode == 2
    assert "--allow-remote" in refused.stderr and "Nothing was started" in refused.stderr
    bad = kindred("serve", "--port", "70000", home=tmp_path / "h", timeout=60)
    assert bad.returncode == 2 and "--port" in bad.stderr
