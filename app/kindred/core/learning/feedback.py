"""What the user teaches: ratings, corrected answers and stated preferences.

Three kinds, one table (`feedback`):
- `rating`: thumbs up (+1) or down (-1) on an assistant message. The prompt and answer are copied
  in, so deleting the conversation later does not erase what was taught.
- `correction`: the answer the user wanted for a prompt; the original answer (if any) is kept as
  `rejected`. It becomes a training target.
- `preference`: a sentence such as "Call me Sam". Active preferences take effect at once (they are
  appended to the system prompt, see `system_prompt`) and also enter the learning data.

Everything can be listed, edited and removed; the archived dataset snapshots keep what taught each
version regardless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kindred.core.basics.errors import KindredError, NotFoundError
from kindred.core.basics.ids import AssistantId
from kindred.core.basics.states import FeedbackKind
from kindred.core.engine.system_budget import compose_system_prompt
from kindred.core.home.assistants import Assistant
from kindred.core.home.store import Store, insert, now

KINDS = tuple(FeedbackKind)
MAX_TEXT = 20_000
MAX_PREFERENCE = 500
@dataclass(frozen=True)
class Feedback:
    id: int
    assistant_id: AssistantId
    kind: str
    prompt: str
    answer: str
    rejected: str | None
    value: int | None
    active: bool
    message_id: int | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Feedback:
        return cls(int(row["id"]), AssistantId(row["assistant_id"]), row["kind"], row["prompt"],
                   row["answer"], row["rejected"], row["value"], bool(row["active"]),
                   row["message_id"], float(row["created_at"]), float(row["updated_at"]))

    @property
    def text(self) -> str:
        """A preference's sentence (stored as its `answer`)."""
        return self.answer

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "created_at": self.created_at,
                               "updated_at": self.updated_at}
        if self.kind == "preference":
            out.update(text=self.answer, active=self.active)
        else:
            out.update(prompt=self.prompt, answer=self.answer, message_id=self.message_id)
            if self.kind == "rating":
                out["value"] = self.value
            else:
                out["rejected"] = self.rejected
        return out


def _clean(text: str, what: str, limit: int = MAX_TEXT) -> str:
    text = text.strip()
    if not text:
        raise KindredError(f"The {what} is empty. Nothing was changed.")
    if len(text) > limit:
        raise KindredError(f"The {what} is too long ({len(text)} characters; at most {limit}). "
                           "Nothing was changed.")
    return text


def _assistant_exists(store: Store, assistant_id: AssistantId) -> None:
    if store.db.execute("SELECT 1 FROM assistants WHERE id = ?", [assistant_id]).fetchone() is None:
        raise NotFoundError(f"No assistant {assistant_id}. Nothing was changed.")


def _add(store: Store, assistant_id: AssistantId, kind: str, *, prompt: str = "", answer: str = "",
         rejected: str | None = None, value: int | None = None,
         message_id: int | None = None) -> Feedback:
    t = now()
    with store.tx() as db:
        new_id = insert(db, "feedback", {
            "assistant_id": assistant_id, "kind": kind, "prompt": prompt, "answer": answer,
            "rejected": rejected, "value": value, "active": 1, "message_id": message_id,
            "created_at": t, "updated_at": t})
    return get_feedback(store, new_id)


def _answer_and_prompt(store: Store, message_id: int) -> tuple[AssistantId, str, str]:
    """(assistant id, the user prompt before it, the answer) for an assistant message."""
    row = store.db.execute(
        "SELECT m.role, m.content, m.conversation_id, c.assistant_id FROM messages m "
        "JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ?", [message_id]).fetchone()
    if row is None:
        raise NotFoundError(f"No message {message_id}. Nothing was changed.")
    role, content, conversation_id, assistant_id = row
    if role != "assistant":
        raise KindredError("Only the assistant's answers can be rated or corrected. "
                           "Nothing was changed.")
    prompt = store.db.execute(
        "SELECT content FROM messages WHERE conversation_id = ? AND id < ? AND role = 'user' "
        "ORDER BY id DESC LIMIT 1", [conversation_id, message_id]).fetchone()
    if prompt is None:
        raise KindredError("That answer has no question before it. Nothing was changed.")
    return AssistantId(assistant_id), str(prompt[0]), str(content)


def rate(store: Store, message_id: int, value: int) -> Feedback:
    """Thumbs up (+1) or down (-1) on an answer; rating it again replaces the earlier rating."""
    if value not in (1, -1):
        raise KindredError("A rating is +1 (good) or -1 (bad). Nothing was changed.")
    assistant_id, prompt, answer = _answer_and_prompt(store, message_id)
    existing = store.db.execute("SELECT id FROM feedback WHERE kind = 'rating' AND message_id = ?",
                                [message_id]).fetchone()
    if existing is not None:
        with store.tx() as db:
            db.execute("UPDATE feedback SET value = ?, updated_at = ? WHERE id = ?",
                       [value, now(), existing[0]])
        return get_feedback(store, int(existing[0]))
    return _add(store, assistant_id, "rating", prompt=prompt, answer=answer, value=value,
                message_id=message_id)


def rating_of(store: Store, message_id: int) -> int | None:
    """The current rating of an answer (for the chat view's thumbs), or None."""
    row = store.db.execute("SELECT value FROM feedback WHERE kind = 'rating' AND message_id = ?",
                           [message_id]).fetchone()
    return None if row is None else int(row[0])


def correct(store: Store, message_id: int, wanted: str) -> Feedback:
    """"Correct this answer": `wanted` becomes the target, the original answer the rejected one."""
    wanted = _clean(wanted, "corrected answer")
    assistant_id, prompt, answer = _answer_and_prompt(store, message_id)
    return _add(store, assistant_id, "correction", prompt=prompt, answer=wanted,
                rejected=answer, message_id=message_id)


def add_example(store: Store, assistant_id: AssistantId, prompt: str, answer: str,
                rejected: str | None = None) -> Feedback:
    """A corrected answer written from scratch (`kindred examples add`)."""
    prompt, answer = _clean(prompt, "prompt"), _clean(answer, "answer")
    _assistant_exists(store, assistant_id)
    return _add(store, assistant_id, "correction", prompt=prompt, answer=answer,
                rejected=rejected.strip() if rejected and rejected.strip() else None)


def add_preference(store: Store, assistant_id: AssistantId, text: str) -> Feedback:
    """A stated preference; it applies to the next answer already (see `system_prompt`)."""
    text = _clean(text, "preference", MAX_PREFERENCE)
    _assistant_exists(store, assistant_id)
    return _add(store, assistant_id, "preference", answer=text)


def get_feedback(store: Store, feedback_id: int) -> Feedback:
    rows = list(store.db.query("SELECT * FROM feedback WHERE id = ?", [feedback_id]))
    if not rows:
        raise NotFoundError(f"No feedback item {feedback_id}. Nothing was changed.")
    return Feedback.from_row(rows[0])


def list_feedback(store: Store, assistant_id: AssistantId,
                  kind: str | None = None) -> list[Feedback]:
    """Oldest first (the order they were taught)."""
    if kind is not None and kind not in KINDS:
        raise KindredError(f"Unknown feedback kind '{kind}'; use one of {', '.join(KINDS)}.")
    sql = "SELECT * FROM feedback WHERE assistant_id = ?"
    params: list[Any] = [assistant_id]
    if kind is not None:
        sql += " AND kind = ?"
        params.append(kind)
    return [Feedback.from_row(r) for r in store.db.query(sql + " ORDER BY id", params)]


def edit_feedback(store: Store, feedback_id: int, *, prompt: str | None = None,
                  answer: str | None = None, value: int | None = None,
                  active: bool | None = None) -> Feedback:
    """Change an item in place (a preference's text is its `answer`)."""
    item = get_feedback(store, feedback_id)
    changes: dict[str, Any] = {}
    if prompt is not None:
        if item.kind == "preference":
            raise KindredError("A preference has no prompt. Nothing was changed.")
        changes["prompt"] = _clean(prompt, "prompt")
    if answer is not None:
        limit = MAX_PREFERENCE if item.kind == "preference" else MAX_TEXT
        changes["answer"] = _clean(answer, "preference" if limit == MAX_PREFERENCE else "answer",
                                   limit)
    if value is not None:
        if item.kind != "rating" or value not in (1, -1):
            raise KindredError("Only a rating has a value, +1 or -1. Nothing was changed.")
        changes["value"] = value
    if active is not None:
        if item.kind != "preference":
            raise KindredError("Only a preference can be switched on or off. "
                               "Nothing was changed.")
        changes["active"] = int(active)
    if changes:
        changes["updated_at"] = now()
        with store.tx() as db:
            db.table("feedback").update(feedback_id, changes)
    return get_feedback(store, feedback_id)


def remove_feedback(store: Store, feedback_id: int) -> None:
    """Forget an item for future training (versions already trained keep their snapshot)."""
    get_feedback(store, feedback_id)
    with store.tx() as db:
        db.execute("DELETE FROM feedback WHERE id = ?", [feedback_id])


def active_preferences(store: Store, assistant_id: AssistantId) -> list[str]:
    rows = store.db.execute("SELECT answer FROM feedback WHERE assistant_id = ? AND "
                            "kind = 'preference' AND active = 1 ORDER BY id",
                            [assistant_id]).fetchall()
    return [str(r[0]) for r in rows]


def system_prompt(store: Store, assistant: Assistant) -> str:
    """What the chat sends as its system prompt: persona plus active preferences."""
    return compose_system_prompt(assistant.persona, active_preferences(store, assistant.id))


def counts(store: Store, assistant_id: AssistantId) -> dict[str, int]:
    """How many items of each kind (ratings split into liked / disliked)."""
    out = {"corrections": 0, "preferences": 0, "liked": 0, "disliked": 0}
    rows = store.db.execute("SELECT kind, value, active FROM feedback WHERE assistant_id = ?",
                            [assistant_id]).fetchall()
    for kind, value, active in rows:
        if kind == "correction":
            out["corrections"] += 1
        elif kind == "preference":
            out["preferences"] += int(bool(active))
        else:
            out["liked" if value == 1 else "disliked"] += 1
    return out
