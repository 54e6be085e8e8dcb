"""Status changes under races: check-then-act happens inside one write transaction.

Each test runs a competing change from a second connection (as a second `kindred` command would)
at the exact point between an operation's first read of the version and its write, so the
interleaving that once brought a deleted version back as the active one is reproduced every time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kindred.core.archive import versions
from kindred.core.archive.catalog import verify_version
from kindred.core.basics.errors import KindredError
from kindred.core.home import consent, ledger
from kindred.core.home.consent import ConsentError
from kindred.core.home.store import Store, open_store
from kindred.core.session import Session
from support.archive_helpers import activate, grant, make_version


@pytest.fixture
def other(session: Session) -> Iterator[Store]:
    """A second connection to the same database; it gives up quickly when the first holds it."""
    store = open_store(session.home, busy_timeout_s=0.2)
    yield store
    store.close()


def _once(monkeypatch: pytest.MonkeyPatch, name: str, competitor: Callable[[], Any],
          outcome: dict[str, Any]) -> None:
    """Run `competitor` once, right after the first call of versions.<name> returns."""
    real = getattr(versions, name)

    def hooked(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if "done" not in outcome:
            outcome["done"] = True
            try:
                outcome["value"] = competitor()
            except KindredError as exc:
                outcome["error"] = exc
        return result

    monkeypatch.setattr(versions, name, hooked)


def _consistent(session: Session) -> None:
    """The active version (if any) is `active`, its weights verify, and nothing else is active."""
    store = session.store
    aid = session.assistant().id
    active_id = store.db.execute("SELECT active_version FROM assistants WHERE id = ?",
                                 [aid]).fetchone()[0]
    statuses = {v.id: v.status for v in versions.list_versions(store, aid)}
    assert [k for k, s in statuses.items() if s == "active"] == ([active_id] if active_id else [])
    if active_id:
        assert verify_version(store, active_id).ok
    # Each status change in the ledger cites a used consent where one is needed.
    for event in ledger.events(store, assistant_id=aid):
        if event.kind in (ledger.ACTIVATED, ledger.RESTORED, ledger.DELETED):
            assert event.payload.get("consent")
        if event.kind == ledger.RETIRED and event.payload.get("was") == "active":
            assert event.payload.get("consent")


def test_delete_landing_while_activate_verifies_is_not_undone(
        session: Session, other: Store, model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    version = make_version(session, model_path)
    activation = grant(session, "activate", version)
    deletion = grant(session, "delete", version)
    outcome: dict[str, Any] = {}
    _once(monkeypatch, "verify_version",
          lambda: versions.delete(other, version.id, deletion.id), outcome)
    with pytest.raises(KindredError, match="deleted"):
        versions.activate(session.store, version.id, activation)
    assert "error" not in outcome  # the delete went through; the activation saw it
    assert versions.get_version(session.store, version.id).status == "deleted"
    assert session.assistant().active_version is None
    _consistent(session)


def test_activate_landing_before_delete_writes_keeps_the_weights(
        session: Session, other: Store, model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    version = make_version(session, model_path)
    activation = grant(session, "activate", version)
    deletion = grant(session, "delete", version)
    outcome: dict[str, Any] = {}
    _once(monkeypatch, "get_version",
          lambda: versions.activate(other, version.id, activation.id), outcome)
    try:
        versions.delete(session.store, version.id, deletion)
        deleted = True
    except KindredError:
        deleted = False
    activated = "value" in outcome
    assert activated != deleted  # exactly one of the two happened
    _consistent(session)


def test_activate_landing_before_retire_writes_needs_the_retire_consent(
        session: Session, other: Store, model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    version = make_version(session, model_path)
    activation = grant(session, "activate", version)
    outcome: dict[str, Any] = {}
    _once(monkeypatch, "get_version",
          lambda: versions.activate(other, version.id, activation.id), outcome)
    try:
        versions.retire(session.store, version.id)  # no consent: fine for a candidate only
        retired = True
    except KindredError:
        retired = False
    activated = "value" in outcome
    assert activated != retired
    _consistent(session)
    final = versions.get_version(session.store, version.id)
    assert final.status == ("active" if activated else "retired")


def test_retire_landing_while_activate_verifies_gives_a_clean_answer(
        session: Session, other: Store, model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = make_version(session, model_path, seed=1)
    activate(session, first)
    second = make_version(session, model_path, seed=2)
    activation = grant(session, "activate", second)
    retirement = grant(session, "retire", first)
    outcome: dict[str, Any] = {}
    _once(monkeypatch, "verify_version",
          lambda: versions.retire(other, first.id, retirement.id), outcome)
    # The activation's consent described replacing the first version, which the retire had
    # already set aside: what the person read no longer holds, so it is refused as stale.
    with pytest.raises(ConsentError, match="stale"):
        versions.activate(session.store, second.id, activation)
    assert "error" not in outcome
    assert versions.get_version(session.store, first.id).status == "retired"
    assert session.assistant().active_version is None
    assert consent.get_decision(session.store, activation.id).used_at is None  # type: ignore[union-attr]
    _consistent(session)
    versions.activate(session.store, second.id, grant(session, "activate", second))
    assert session.assistant().active_version == second.id
    previous = [e for e in ledger.events(session.store) if e.kind == ledger.ACTIVATED][-1]
    assert previous.payload["previous"] is None  # the retire had already landed
