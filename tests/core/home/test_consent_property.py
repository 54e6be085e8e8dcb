"""Property: over random sequences of requests, decisions and gated actions, the active version
changes only through a matching granted consent, and every change has its ledger event."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kindred.core.archive import objects as archive
from kindred.core.archive import versions
from kindred.core.basics.errors import KindredError
from kindred.core.home import consent, ledger
from kindred.core.home.atomic import remove_tree
from kindred.core.session import Session, open_session
from support.archive_helpers import make_version

N_VERSIONS = 3
KINDS = ("activate", "restore", "retire", "delete", "train")
ACTIONS = {"activate": versions.activate, "retire": versions.retire,
           "delete": versions.delete}


@pytest.fixture(scope="module")
def template(model_path: Path) -> Iterator[Path]:
    """One prepared home (three archived versions), copied for every example."""
    root = Path(tempfile.mkdtemp(prefix="kindred-prop-"))
    session = open_session(root / "home")
    first = make_version(session, model_path, seed=1)
    make_version(session, model_path, seed=2, parent=first.id)
    make_version(session, model_path, seed=3, parent=first.id)
    session.close()
    yield root / "home"
    remove_tree(root)


ROUND = st.tuples(  # an honest or subtly wrong "ask, answer, act" round: valid changes happen
    st.just("round"), st.sampled_from(["activate", "activate", "retire", "delete"]),
    st.integers(0, N_VERSIONS - 1), st.sampled_from([True, True, False]),
    st.sampled_from(["none", "none", "none", "wrong_kind", "wrong_subject", "reuse", "replay",
                     "replay", "missing"]))
operations = st.lists(
    st.one_of(
        st.tuples(st.just("ask"), st.sampled_from(KINDS), st.integers(0, N_VERSIONS - 1),
                  st.booleans()),
        st.tuples(st.sampled_from(sorted(ACTIONS)), st.integers(0, N_VERSIONS - 1),
                  st.one_of(st.none(), st.integers(0, 7))),
        st.tuples(st.just("refusal"), st.integers(0, 7)),
        ROUND, ROUND, ROUND,
    ),
    min_size=3, max_size=14,
)


def _active(session: Session) -> str | None:
    row = session.store.db.execute("SELECT active_version FROM assistants WHERE id = 1")
    return row.fetchone()[0]  # type: ignore[no-any-return]


def _used(session: Session) -> set[int]:
    rows = session.store.db.execute(
        "SELECT request_id FROM consent_decisions WHERE used_at IS NOT NULL").fetchall()
    return {int(r[0]) for r in rows}


def _run(session: Session, op: tuple[Any, ...], ids: list[str],
         decisions: list[consent.Decision]) -> None:
    """Perform one operation (it may raise a KindredError: refused, as it should be)."""
    if op[0] == "ask":
        _, kind, index, granted = op
        req = consent.request(session.store, kind, 1, ids[index], f"{kind}?")
        decisions.append(consent.decide(session.store, req.id, granted=granted, via="gui"))
    elif op[0] == "refusal":
        if op[1] < len(decisions) and not decisions[op[1]].granted:
            versions.record_refusal(session.store, decisions[op[1]])
    elif op[0] == "round":
        _round(session, op, ids, decisions)
    else:
        action, index, pick = op
        decision = decisions[pick] if pick is not None and pick < len(decisions) else None
        ACTIONS[action](session.store, ids[index], decision)


def _round(session: Session, op: tuple[Any, ...], ids: list[str],
           decisions: list[consent.Decision]) -> None:
    _, action, index, granted, tamper = op
    version = versions.get_version(session.store, ids[index])
    kind = {"retire": "retire", "delete": "delete"}.get(
        action, versions.consent_kind_for(session.store, version))
    subject = version.id
    if tamper == "wrong_kind":
        kind = {"activate": "restore", "restore": "activate"}.get(kind, "activate")
    if tamper == "wrong_subject":
        subject = ids[(index + 1) % len(ids)]
    req = consent.request(session.store, kind, 1, subject, f"{kind}?")
    decisions.append(consent.decide(session.store, req.id, granted=granted, via="cli-flag"))
    decision: consent.Decision | None = decisions[-1]
    if tamper == "reuse":
        decision = decisions[0]
    elif tamper == "replay":  # a decision already used for this very kind and subject
        used = _used(session)
        earlier = [d for d in decisions[:-1] if d.id in used and d.request.kind == kind
                   and d.request.subject == subject]
        decision = earlier[-1] if earlier else decision
    elif tamper == "missing":
        decision = None
    ACTIONS[action](session.store, version.id, decision)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(ops=operations)
def test_active_changes_only_with_matching_consent(template: Path,
                                                   ops: list[tuple[Any, ...]]) -> None:
    root = Path(tempfile.mkdtemp(prefix="kindred-ex-"))
    shutil.copytree(template, root / "home")
    session = open_session(root / "home")
    try:
        ids = [v.id for v in versions.list_versions(session.store)]
        decisions: list[consent.Decision] = []
        used_ids: list[int] = []
        for op in ops:
            before, seq_before = _active(session), ledger.verify(session.store).count
            used_before = _used(session)
            try:
                _run(session, op, ids, decisions)
            except KindredError:
                assert _active(session) == before  # a refused action changed nothing
                assert _used(session) == used_before  # and used up no consent
            after = _active(session)
            newly_used = _used(session) - used_before
            assert len(newly_used) <= 1 and not newly_used & set(used_ids)
            used = newly_used.pop() if newly_used else None
            new_events = [e for e in ledger.events(session.store) if e.seq > seq_before]
            changes = [e for e in new_events
                       if e.kind in ledger.ACTIVE_CHANGES and "active" in e.payload]
            if after != before:
                assert used is not None, f"{op} changed the active version without consent"
                row = consent.get_decision(session.store, used)
                assert row is not None and row.granted and row.used_at is not None
                assert row.request.subject == (after or before)
                assert row.request.kind in ("activate", "restore", "retire")
                assert [e.payload["active"] for e in changes] == [after]
                assert changes[0].payload["consent"] == used
                event(f"active changed by {op[0]}")
            else:
                assert changes == []
            if used is not None:
                used_ids.append(used)
        assert ledger.verify(session.store).ok
        assert all(c.ok for c in archive.verify_all(session.store))
        statuses = [v.status for v in versions.list_versions(session.store)]
        assert statuses.count("active") == (1 if _active(session) else 0)
        kept = [v for v in versions.list_versions(session.store) if v.status != "deleted"]
        assert all(versions.version_dir(session.home, v.id).is_dir() for v in kept)
    finally:
        session.close()
        remove_tree(root)
