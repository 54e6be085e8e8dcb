"""Every API answer counted for the version that gave it, as coming from another app.

A row of `api_answers` per answer: the blend that answered, tokens, speed; never its text. When
the person chose to keep API conversations (`keep_content`), the last request and the answer
are also saved as a conversation of their own, which the row points to (Usage then counts it
once, as from another app). After each answer a rollout paced "every N answers" takes its
step if due (the same rule as after an answer in the window or `kindred chat`).
"""

from __future__ import annotations

import json

from kindred.api.answering import Outcome
from kindred.core.basics.ids import AssistantId
from kindred.core.chat.conversations import GenerationStats, add_message, create_conversation
from kindred.core.home.store import Store, insert, now
from kindred.core.upgrades import rollout

TITLE = "From another app: "


def record(store: Store, assistant_id: AssistantId, outcome: Outcome, *, client: str = "",
           kept_request: str | None = None) -> int:
    """Count one answer; with `kept_request` (the person keeps API conversations) the request
    and the answer are saved too. Returns the row's id."""
    message_id: int | None = None
    with store.tx() as db:
        if kept_request is not None:
            conversation = create_conversation(store, assistant_id,
                                               TITLE + " ".join(kept_request.split())[:40])
            add_message(store, conversation.id, "user", kept_request)
            message_id = add_message(store, conversation.id, "assistant", outcome.text,
                                     GenerationStats(outcome.adapters, outcome.tokens_in,
                                                     outcome.tokens_out, outcome.ttft_s,
                                                     outcome.tok_s, outcome.finish_reason)).id
        return insert(db, "api_answers", {
            "assistant_id": assistant_id, "created_at": now(),
            "adapters": json.dumps(outcome.adapters), "tokens_in": outcome.tokens_in,
            "tokens_out": outcome.tokens_out, "ttft_s": outcome.ttft_s, "tok_s": outcome.tok_s,
            "finish_reason": outcome.finish_reason, "client": client[:100],
            "message_id": message_id})


def after_answer(store: Store, assistant_id: AssistantId) -> rollout.Rollout | None:
    """The rollout's pace after an answer: the step that is due is taken (None: nothing
    changed). The next request is answered through the new blend."""
    return rollout.advance_if_due(store, assistant_id)
