"""Conversations and their messages, with what produced each answer (adapters, speed)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kindred.core.basics.errors import KindredError, NotFoundError
from kindred.core.basics.ids import AssistantId, ConversationId
from kindred.core.home.store import Store, insert, now

NEW_TITLE = "New chat"


@dataclass(frozen=True)
class Conversation:
    id: ConversationId
    assistant_id: AssistantId
    title: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: ConversationId
    role: str
    content: str
    created_at: float
    adapters: list[tuple[str, float]] = field(default_factory=list)
    tokens_in: int | None = None
    tokens_out: int | None = None
    ttft_s: float | None = None
    tok_s: float | None = None
    finish_reason: str | None = None
    replaced_by: int | None = None  # a regenerated answer points to the one that replaced it

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Message:
        adapters = [(str(v), float(s)) for v, s in json.loads(row["adapters"])]
        return cls(row["id"], row["conversation_id"], row["role"], row["content"],
                   row["created_at"], adapters, row["tokens_in"], row["tokens_out"],
                   row["ttft_s"], row["tok_s"], row["finish_reason"], row.get("replaced_by"))


@dataclass(frozen=True)
class GenerationStats:
    """What the engine measured for one answer; stored beside the answer."""

    adapters: list[tuple[str, float]]
    tokens_in: int
    tokens_out: int
    ttft_s: float | None
    tok_s: float | None
    finish_reason: str


def create_conversation(store: Store, assistant_id: AssistantId,
                        title: str = NEW_TITLE) -> Conversation:
    t = now()
    with store.tx() as db:
        new_id = insert(db, "conversations",
            {"assistant_id": assistant_id, "title": title, "created_at": t, "updated_at": t}
        )
    return get_conversation(store, ConversationId(new_id))


def get_conversation(store: Store, conversation_id: ConversationId) -> Conversation:
    row = store.db.execute(
        "SELECT id, assistant_id, title, created_at, updated_at FROM conversations WHERE id = ?",
        [conversation_id],
    ).fetchone()
    if row is None:
        raise NotFoundError(f"No conversation {conversation_id}.")
    return Conversation(*row)


def list_conversations(store: Store, assistant_id: AssistantId,
                       search: str = "") -> list[Conversation]:
    """Newest first; `search` matches titles and message text, case-insensitively."""
    sql = "SELECT id, assistant_id, title, created_at, updated_at FROM conversations c " \
          "WHERE assistant_id = ?"
    params: list[Any] = [assistant_id]
    if search.strip():
        pattern = f"%{search.strip()}%"
        sql += (" AND (title LIKE ? OR EXISTS (SELECT 1 FROM messages m "
                "WHERE m.conversation_id = c.id AND m.content LIKE ?))")
        params += [pattern, pattern]
    sql += " ORDER BY updated_at DESC, id DESC"
    return [Conversation(*r) for r in store.db.execute(sql, params).fetchall()]


def rename_conversation(store: Store, conversation_id: ConversationId, title: str) -> None:
    title = title.strip()
    if not title:
        raise KindredError("A conversation needs a title.")
    get_conversation(store, conversation_id)
    with store.tx() as db:
        db.table("conversations").update(conversation_id, {"title": title})


def delete_conversation(store: Store, conversation_id: ConversationId) -> None:
    """The GUI confirms first; messages go with the conversation (adapter versions never do)."""
    get_conversation(store, conversation_id)
    with store.tx() as db:
        db.execute("DELETE FROM conversations WHERE id = ?", [conversation_id])


def add_message(store: Store, conversation_id: ConversationId, role: str, content: str,
                stats: GenerationStats | None = None) -> Message:
    row: dict[str, Any] = {"conversation_id": conversation_id, "role": role,
                           "content": content, "created_at": now()}
    if stats is not None:
        row.update(adapters=json.dumps(stats.adapters), tokens_in=stats.tokens_in,
                   tokens_out=stats.tokens_out, ttft_s=stats.ttft_s, tok_s=stats.tok_s,
                   finish_reason=stats.finish_reason)
    with store.tx() as db:
        new_id = insert(db, "messages", row)
        conv = get_conversation(store, conversation_id)
        update: dict[str, Any] = {"updated_at": row["created_at"]}
        if role == "user" and conv.title == NEW_TITLE:
            update["title"] = _title_from(content)
        db.table("conversations").update(conversation_id, update)
    return get_message(store, int(new_id))


def _title_from(text: str, limit: int = 48) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def get_message(store: Store, message_id: int) -> Message:
    rows = list(store.db.query("SELECT * FROM messages WHERE id = ?", [message_id]))
    if not rows:
        raise NotFoundError(f"No message {message_id}.")
    return Message.from_row(rows[0])


def list_messages(store: Store, conversation_id: ConversationId, *, replaced: bool = False
                  ) -> list[Message]:
    """The conversation as it reads now; `replaced=True` adds the answers Regenerate replaced."""
    where = "" if replaced else " AND replaced_by IS NULL"
    return [Message.from_row(r) for r in store.db.query(
        f"SELECT * FROM messages WHERE conversation_id = ?{where} ORDER BY id",
        [conversation_id])]


def earlier_answers(store: Store, message_id: int) -> list[Message]:
    """The answers this one replaced (through every Regenerate before it), oldest first."""
    rows = store.db.query(
        "WITH RECURSIVE chain(id) AS (SELECT id FROM messages WHERE replaced_by = ? "
        "UNION SELECT m.id FROM messages m JOIN chain c ON m.replaced_by = c.id) "
        "SELECT * FROM messages WHERE id IN (SELECT id FROM chain) ORDER BY id", [message_id])
    return [Message.from_row(r) for r in rows]


def mark_replaced(store: Store, old_id: int, new_id: int) -> None:
    """Regenerate: the old answer stays stored (with its ratings), out of the visible thread."""
    with store.tx() as db:
        db.execute("UPDATE messages SET replaced_by = ? WHERE id = ?", [new_id, old_id])


def earlier_counts(store: Store, conversation_id: ConversationId) -> dict[int, int]:
    """{visible answer id: how many answers it replaced}, for a whole conversation at once."""
    replaced_by = dict(store.db.execute(
        "SELECT id, replaced_by FROM messages WHERE conversation_id = ? "
        "AND replaced_by IS NOT NULL", [conversation_id]).fetchall())
    counts: dict[int, int] = {}
    for start in replaced_by:
        current = start
        while current in replaced_by:  # follow the chain to the answer shown now
            current = replaced_by[current]
        counts[current] = counts.get(current, 0) + 1
    return counts
