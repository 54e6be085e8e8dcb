"""One chat turn, shared by the GUI and the CLI: history in, streamed answer out, answer saved.

Split in three steps (prepare, generate, save) so the GUI can run only the middle one on its
inference thread and keep every database write on the main thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import ConversationId
from kindred.core.basics.sampling import Sampling
from kindred.core.chat.conversations import (
    GenerationStats,
    Message,
    add_message,
    list_messages,
    mark_replaced,
)
from kindred.core.engine.llama import Generation
from kindred.core.engine.llama import GenerationStats as EngineStats
from kindred.core.engine.llama import Message as ChatMessage
from kindred.core.home.assistants import Assistant
from kindred.core.home.store import Store
from kindred.core.learning.feedback import system_prompt


@dataclass(frozen=True)
class PreparedTurn:
    conversation_id: ConversationId
    messages: list[ChatMessage]
    sampling: Sampling


def sampling_for(assistant: Assistant) -> Sampling:
    s = assistant.sampling
    return Sampling(s.temperature, s.top_p, s.top_k, s.repeat_penalty, s.max_tokens)


def history(store: Store, assistant: Assistant,
            conversation_id: ConversationId) -> list[ChatMessage]:
    """The persona and active preferences as the system prompt, then every saved message."""
    out: list[ChatMessage] = []
    if system := system_prompt(store, assistant):
        out.append({"role": "system", "content": system})
    out += [{"role": m.role, "content": m.content} for m in list_messages(store, conversation_id)
            if m.role in ("user", "assistant")]
    return out


def prepare(store: Store, assistant: Assistant, conversation_id: ConversationId, user_text: str
            ) -> PreparedTurn:
    """Save the user's message and return what the engine needs to answer it."""
    if not user_text.strip():
        raise KindredError("Type a message first.")
    add_message(store, conversation_id, "user", user_text)
    return PreparedTurn(conversation_id, history(store, assistant, conversation_id),
                        sampling_for(assistant))


def prepare_regenerate(store: Store, assistant: Assistant, conversation_id: ConversationId
                       ) -> tuple[PreparedTurn, Message]:
    """The turn that answers the last user message again; returns the answer it will replace."""
    messages = list_messages(store, conversation_id)
    if not messages or messages[-1].role != "assistant":
        raise KindredError("There is no answer to regenerate yet.")
    old = messages[-1]
    turn = PreparedTurn(conversation_id, history(store, assistant, conversation_id)[:-1],
                        sampling_for(assistant))
    return turn, old


def save_answer(store: Store, conversation_id: ConversationId, text: str, stats: EngineStats,
                replaces: int | None = None) -> Message:
    """Store the answer with what produced it; a regenerated answer takes the old one's place
    in the thread, and the old one is kept (see `conversations.earlier_answers`)."""
    with store.tx():
        message = add_message(
            store, conversation_id, "assistant", text,
            GenerationStats(stats.adapters, stats.tokens_in, stats.tokens_out, stats.ttft_s,
                            stats.tok_s, stats.finish_reason),
        )
        if replaces is not None:
            mark_replaced(store, replaces, message.id)
    return message


def answered(generation: Generation) -> tuple[str, EngineStats]:
    text = generation.read()
    return text, generation.stats
