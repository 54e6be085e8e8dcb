"""Side-by-side trial: for the next N prompts both versions answer and the person picks, blind.

A is the version the assistant answers with now (the rollout's outgoing version during a
rollout; None means the bare base), B the one being tried. Each round stores both answers as
ordinary messages recording their adapters (so each counts for its version), in shuffled order
and with names hidden until the choice; the answer not chosen is kept like Regenerate's kept
answers (`messages.replaced_by` points to the chosen one). The tally (B's wins, ties and losses,
with a 95 % Wilson interval on the decisive votes, as in Chatbot Arena's blind pairwise votes)
is kept with the pair of versions; it is shown in the next rollout step's consent and holds the
rollout while B loses (see `rollout.advance_if_due`).

The GUI produces the two answers on its inference thread and calls `record_round`; the CLI and
tests use `run_round`, which does the same with an engine in this thread.

Across bases (a migrated version against the old one, issue 10) there is no blend, but there is a
trial: each side answers on the base its version was made for (`side_base`), so the answering
side needs its own engine when its base is not the assistant's (`run_round` opens one; the GUI's
inference worker keeps one). The tally goes on the migration card.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from kindred.core.archive import assistant_state
from kindred.core.archive.catalog import get_version, missing_base, names, verified_path
from kindred.core.basics.errors import KindredError, NotFoundError
from kindred.core.basics.ids import AssistantId, ConversationId, TrialId, VersionId
from kindred.core.basics.states import VersionStatus
from kindred.core.chat import turns
from kindred.core.chat.conversations import Message, get_message
from kindred.core.engine.llama import AdapterRef, Engine, GenerationStats
from kindred.core.home import ledger
from kindred.core.home.assistants import Assistant
from kindred.core.home.atomic import db_write
from kindred.core.home.store import Store, now
from kindred.core.upgrades.rollout_state import open_pair

DEFAULT_PROMPTS = 5
CHOICES = ("a", "b", "same")
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Tally:
    """B against A: wins (B chosen), ties ("same") and losses (A chosen)."""

    wins: int = 0
    ties: int = 0
    losses: int = 0

    @property
    def rounds(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def decisive(self) -> int:
        return self.wins + self.losses

    @property
    def interval(self) -> tuple[float, float] | None:
        """95 % Wilson score interval of B's win rate on decisive votes (None without any)."""
        n = self.decisive
        if n == 0:
            return None
        p = self.wins / n
        denominator = 1 + Z95**2 / n
        centre = (p + Z95**2 / (2 * n)) / denominator
        half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denominator
        return max(0.0, centre - half), min(1.0, centre + half)

    @property
    def losing(self) -> bool:
        """B was chosen less often than A so far (what holds a rollout)."""
        return self.losses > self.wins

    @property
    def text(self) -> str:
        head = f"won {self.wins}, tied {self.ties}, lost {self.losses}"
        if (ci := self.interval) is None:
            return head
        rate = self.wins / self.decisive
        return (f"{head} (wins {rate:.0%} of decisive votes, 95 % interval "
                f"{ci[0]:.0%}–{ci[1]:.0%})")

    def to_json(self) -> dict[str, Any]:
        ci = self.interval
        return {"wins": self.wins, "ties": self.ties, "losses": self.losses,
                "rounds": self.rounds, "decisive": self.decisive,
                "interval": list(ci) if ci else None, "losing": self.losing, "text": self.text}


@dataclass(frozen=True)
class Trial:
    id: TrialId
    assistant_id: AssistantId
    a_version: VersionId | None
    b_version: VersionId
    prompts: int
    started_at: float
    ended_at: float | None
    decided: int

    @property
    def open(self) -> bool:
        return self.ended_at is None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "assistant_id": self.assistant_id, "a": self.a_version,
                "b": self.b_version, "prompts": self.prompts, "decided": self.decided,
                "started_at": self.started_at, "ended_at": self.ended_at}


@dataclass(frozen=True)
class Round:
    """One prompt answered by both. `first`/`second` in the order shown; `first_is` which
    version ('a' or 'b') wrote the first; `choice` is None until the person picks."""

    id: int
    trial_id: TrialId
    conversation_id: ConversationId | None
    first: int | None
    second: int | None
    first_is: str
    choice: str | None

    def version_of(self, position: str) -> str:
        """'a' or 'b' for the answer shown 'first' or 'second'."""
        if position == "first":
            return self.first_is
        return "b" if self.first_is == "a" else "a"


def _trial_from(store: Store, row: dict[str, Any]) -> Trial:
    decided = store.db.execute("SELECT COUNT(*) FROM trial_rounds WHERE trial_id = ? AND "
                               "choice IS NOT NULL", [row["id"]]).fetchone()[0]
    return Trial(TrialId(row["id"]), AssistantId(row["assistant_id"]), row["a_version"],
                 row["b_version"], int(row["prompts"]), float(row["started_at"]),
                 row["ended_at"], int(decided))


def current(store: Store, assistant_id: AssistantId) -> Trial | None:
    rows = list(store.db.query("SELECT * FROM trials WHERE assistant_id = ? AND ended_at IS "
                               "NULL", [assistant_id]))
    return _trial_from(store, rows[0]) if rows else None


def latest(store: Store, assistant_id: AssistantId) -> Trial | None:
    """The assistant's most recent trial, running or ended (its tally is kept)."""
    rows = list(store.db.query("SELECT * FROM trials WHERE assistant_id = ? ORDER BY id DESC "
                               "LIMIT 1", [assistant_id]))
    return _trial_from(store, rows[0]) if rows else None


def get_trial(store: Store, trial_id: TrialId) -> Trial:
    rows = list(store.db.query("SELECT * FROM trials WHERE id = ?", [trial_id]))
    if not rows:
        raise NotFoundError(f"No trial {trial_id}.")
    return _trial_from(store, rows[0])


def default_pair(store: Store, assistant_id: AssistantId) -> tuple[str | None, str | None]:
    """(A, B) to compare now: the open rollout's pair, else the active version and the newest
    candidate (B None if there is nothing to try)."""
    if (pair := open_pair(store, assistant_id)) is not None:
        return pair
    active = store.db.execute("SELECT active_version FROM assistants WHERE id = ?",
                              [assistant_id]).fetchone()
    row = store.db.execute("SELECT id FROM versions WHERE assistant_id = ? AND status IN "
                           "('candidate', 'trial') ORDER BY created_at DESC LIMIT 1",
                           [assistant_id]).fetchone()
    return (active[0] if active else None), (row[0] if row else None)


def start(store: Store, assistant_id: AssistantId, b_version: str | None = None,
          prompts: int = DEFAULT_PROMPTS) -> Trial:
    """Begin a trial of B (default: the rollout's incoming version or the newest candidate)
    against what the assistant answers with now. Trying shows answers; it changes nothing the
    assistant is, so it needs no consent, and it is a ledger event."""
    if not 1 <= prompts <= 100:
        raise KindredError("A trial covers 1 to 100 prompts.")
    a, default_b = default_pair(store, assistant_id)
    b = get_version(store, b_version, assistant_id=assistant_id).id if b_version else default_b
    if b is None:
        raise KindredError("There is no candidate to try. Nothing was changed.")
    version = get_version(store, b)
    if version.status in (VersionStatus.ACTIVE, VersionStatus.DELETED) or b == a:
        raise KindredError(f"Version {version.short} is {version.status}; try a candidate "
                           "against it instead. Nothing was changed.")
    if (missing := missing_base(store, version)) is not None:
        raise KindredError(f"Version {version.short} cannot answer: {missing}. "
                           "Nothing was changed.")
    with db_write(store) as db:
        if current(store, assistant_id) is not None:
            raise KindredError("A trial is already running; finish or end it first. "
                               "Nothing was changed.")
        trial_id = db.table("trials").insert({"assistant_id": assistant_id, "a_version": a,
                                              "b_version": b, "prompts": prompts,
                                              "started_at": now()}).last_rowid
        ledger.append(store, ledger.TRIAL_STARTED, {"trial": trial_id, "a": a, "b": b,
                                                    "prompts": prompts},
                      assistant_id=assistant_id)
    return get_trial(store, TrialId(trial_id or 0))


def end(store: Store, assistant_id: AssistantId) -> Trial:
    """End the open trial early (or after its last round); the tally stays."""
    with db_write(store):
        trial = current(store, assistant_id)
        if trial is None:
            raise KindredError("No trial is running. Nothing was changed.")
        assistant_state.end_trial(store, assistant_id, tally=tally(
            store, assistant_id, trial.a_version, trial.b_version).to_json())
    return get_trial(store, trial.id)


def side_refs(store: Store, version_id: VersionId | None) -> list[AdapterRef]:
    """The adapters one side answers with (verified first): the version alone, or none."""
    return [AdapterRef(version_id, verified_path(store, version_id), 1.0)] if version_id else []


def side_base(store: Store, version_id: VersionId | None) -> str | None:
    """The base model (sha256) a side answers on when it is not the assistant's own, else None
    (the bare base side, and versions made for the assistant's base)."""
    if version_id is None:
        return None
    version = get_version(store, version_id)
    row = store.db.execute("SELECT m.sha256 FROM assistants a JOIN models m ON m.id = "
                           "a.model_id WHERE a.id = ?", [version.assistant_id]).fetchone()
    return None if row is not None and row[0] == version.base_sha256 else version.base_sha256


def side_engine(store: Store, version_id: VersionId, n_ctx: int) -> Engine:
    """An engine on the base `version_id` was made for, for its side of a cross-base trial
    (the caller closes it); a clear KindredError if that base was removed or its file is gone."""
    from kindred.core.home.models import get_model

    version = get_version(store, version_id)
    if (missing := missing_base(store, version)) is not None:
        raise KindredError(f"Version {version.short} cannot answer: {missing}.")
    return Engine(get_model(store, version.base_sha256).path, n_ctx=n_ctx)


def shuffle(rng: random.Random | None = None) -> str:
    """Which version answers first ('a' or 'b'): a coin flip, so position says nothing."""
    return (rng or random.SystemRandom()).choice(("a", "b"))


def record_round(store: Store, trial: Trial, conversation_id: ConversationId, first_is: str,
                 first: tuple[str, GenerationStats], second: tuple[str, GenerationStats]
                 ) -> Round:
    """Save both answers (the user's message is already saved) and the undecided round.

    Until the choice, the second answer is out of the visible thread (replaced by the first),
    so the next prompt never sees both."""
    if first_is not in ("a", "b"):
        raise KindredError("A round's first answer comes from version 'a' or 'b'.")
    with db_write(store) as db:
        one = turns.save_answer(store, conversation_id, first[0], first[1])
        two = turns.save_answer(store, conversation_id, second[0], second[1])
        db.execute("UPDATE messages SET replaced_by = ? WHERE id = ?", [one.id, two.id])
        round_id = db.table("trial_rounds").insert({
            "trial_id": trial.id, "conversation_id": conversation_id, "first_message": one.id,
            "second_message": two.id, "first_is": first_is, "created_at": now()}).last_rowid
    return get_round(store, int(round_id or 0))


def get_round(store: Store, round_id: int) -> Round:
    row = store.db.execute("SELECT id, trial_id, conversation_id, first_message, "
                           "second_message, first_is, choice FROM trial_rounds WHERE id = ?",
                           [round_id]).fetchone()
    if row is None:
        raise NotFoundError(f"No trial round {round_id}.")
    return Round(int(row[0]), TrialId(row[1]), row[2], row[3], row[4], row[5], row[6])


def blind_answers(store: Store, conversation_id: ConversationId) -> set[int]:
    """Answers of this conversation whose round waits for the person's pick: until then
    nothing on screen may say which version wrote them (the trial is blind)."""
    rows = store.db.execute("SELECT first_message, second_message FROM trial_rounds WHERE "
                            "conversation_id = ? AND choice IS NULL", [conversation_id])
    return {int(m) for row in rows.fetchall() for m in row if m is not None}


def undecided(store: Store, conversation_id: ConversationId) -> Round | None:
    """The round in this conversation still waiting for the person's pick."""
    row = store.db.execute("SELECT id FROM trial_rounds WHERE conversation_id = ? AND choice "
                           "IS NULL ORDER BY id DESC LIMIT 1", [conversation_id]).fetchone()
    return get_round(store, int(row[0])) if row else None


def answers(store: Store, round_: Round) -> tuple[Message | None, Message | None]:
    out: list[Message | None] = []
    for message_id in (round_.first, round_.second):
        try:
            out.append(get_message(store, message_id) if message_id else None)
        except NotFoundError:
            out.append(None)
    return out[0], out[1]


def choose(store: Store, round_id: int, pick: str) -> Round:
    """The person's pick: 'first', 'second' or 'same'. The chosen answer stays in the thread
    (for 'same', the one shown first); the other is kept, replaced by it. The last round ends
    the trial."""
    if pick not in ("first", "second", "same"):
        raise KindredError("Pick 'first', 'second' or 'same'.")
    with db_write(store) as db:
        round_ = get_round(store, round_id)
        if round_.choice is not None:
            raise KindredError("This round was already decided. Nothing was changed.")
        choice = "same" if pick == "same" else round_.version_of(pick)
        keep, drop = ((round_.second, round_.first) if pick == "second"
                      else (round_.first, round_.second))
        if keep is not None:
            db.execute("UPDATE messages SET replaced_by = NULL WHERE id = ?", [keep])
        if drop is not None and keep is not None:
            db.execute("UPDATE messages SET replaced_by = ? WHERE id = ?", [keep, drop])
        db.execute("UPDATE trial_rounds SET choice = ?, decided_at = ? WHERE id = ?",
                   [choice, now(), round_id])
        trial = get_trial(store, round_.trial_id)
        ledger.append(store, ledger.TRIAL_VOTE,
                      {"trial": trial.id, "round": round_id, "a": trial.a_version,
                       "b": trial.b_version, "choice": choice},
                      assistant_id=trial.assistant_id)
        if trial.open and trial.decided >= trial.prompts:
            end(store, trial.assistant_id)
    return get_round(store, round_id)


def tally(store: Store, assistant_id: AssistantId, a_version: str | None, b_version: str) -> Tally:
    """Every decided round between these two versions, across trials (kept with them)."""
    rows = store.db.execute(
        "SELECT r.choice, COUNT(*) FROM trial_rounds r JOIN trials t ON t.id = r.trial_id "
        "WHERE t.assistant_id = ? AND t.a_version IS ? AND t.b_version = ? "
        "AND r.choice IS NOT NULL GROUP BY r.choice", [assistant_id, a_version, b_version])
    counts = {str(c): int(n) for c, n in rows.fetchall()}
    return Tally(counts.get("b", 0), counts.get("same", 0), counts.get("a", 0))


def tallies(store: Store, version_id: VersionId) -> list[dict[str, Any]]:
    """Every pairing a version took part in, with its tally from that version's side."""
    rows = store.db.execute("SELECT DISTINCT assistant_id, a_version, b_version FROM trials "
                            "WHERE a_version = ? OR b_version = ?", [version_id, version_id])
    out: list[dict[str, Any]] = []
    for assistant_id, a, b in rows.fetchall():
        t = tally(store, AssistantId(assistant_id), a, b)
        named = names(store, AssistantId(assistant_id))
        out.append({"a": a, "b": b, "a_name": named.get(a, "base model") if a else "base model",
                    "b_name": named.get(b, b[:12]), "as": "b" if b == version_id else "a",
                    **t.to_json()})
    return out


def run_round(store: Store, engine: Engine, assistant: Assistant, conversation_id: ConversationId,
              text: str, *, rng: random.Random | None = None) -> Round:
    """One round with an engine in this thread (CLI, tests): both answer the same history."""
    trial = current(store, assistant.id)
    if trial is None:
        raise KindredError("No trial is running.")
    prepared = turns.prepare(store, assistant, conversation_id, text)
    first_is = shuffle(rng)
    order = [first_is, "b" if first_is == "a" else "a"]
    previous = engine.adapters
    results: list[tuple[str, GenerationStats]] = []
    others: dict[str, Engine] = {}  # a side on another base answers on its own base
    try:
        for side in order:
            version = trial.a_version if side == "a" else trial.b_version
            base = side_base(store, version)
            if version is not None and base is not None and base not in others:
                others[base] = side_engine(store, version, engine.n_ctx)
            answering = others[base] if base is not None else engine
            answering.set_adapters(side_refs(store, version))
            generation = answering.chat(prepared.messages, prepared.sampling)
            results.append((generation.read(), generation.stats))
    finally:
        engine.set_adapters(previous)
        for other in others.values():
            other.close()
    return record_round(store, trial, conversation_id, first_is, results[0], results[1])


def labels(store: Store, trial: Trial) -> dict[str, str]:
    """'a'/'b' -> the version names, revealed after the choice."""
    named = names(store, trial.assistant_id)
    return {"a": named.get(trial.a_version, "base model") if trial.a_version else "base model",
            "b": named.get(trial.b_version, trial.b_version[:12])}
