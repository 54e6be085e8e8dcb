"""Evidence for activating a candidate: its quality card, and the current and the candidate
version's answers side by side on prompts its training never saw (show, don't tell).

Answers are greedy (temperature 0) so the two columns differ only by the adapter. Runs on the
engine's thread (the GUI's inference worker; the CLI's main thread) and puts the engine's adapter
set back as it was, whatever happens. No torch.
"""

from __future__ import annotations

from typing import Any

from kindred.core.archive import versions
from kindred.core.archive.cards import get_card
from kindred.core.archive.objects import adapter_refs, verified_path
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.sampling import Sampling
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.home import consent
from kindred.core.home.assistants import Assistant, get_assistant
from kindred.core.home.consent import ConsentRequest
from kindred.core.home.store import Store
from kindred.core.learning import quality
from kindred.core.learning.feedback import system_prompt
from kindred.core.learning.quality import QuestionSet

FALLBACK_PROMPTS = ("Introduce yourself in two sentences.",
                    "Give me one tip for a productive morning.",
                    "What is a good way to learn a new language?")
GREEDY = Sampling(temperature=0.0, top_p=1.0, top_k=1, repeat_penalty=1.1, max_tokens=96)


def recent_prompts(store: Store, assistant_id: AssistantId, limit: int = 2) -> list[str]:
    """The user's most recent distinct chat messages that were never taught (a taught prompt
    would only show the candidate repeating what it was trained on)."""
    taught = {str(r[0]).strip() for r in store.db.execute(
        "SELECT prompt FROM feedback WHERE assistant_id = ? AND prompt IS NOT NULL",
        [assistant_id]).fetchall()}
    rows = store.db.execute(
        "SELECT m.content FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "WHERE c.assistant_id = ? AND m.role = 'user' ORDER BY m.id DESC LIMIT 50",
        [assistant_id]).fetchall()
    out: list[str] = []
    for text in (str(r[0]).strip() for r in rows):
        if text and text not in out and text not in taught and len(text) <= 2000:
            out.append(text)
        if len(out) >= limit:
            break
    return out


def review_prompts(store: Store, assistant_id: AssistantId, count: int = 4) -> list[str]:
    """Prompts the training never saw: the person's recent untaught messages first, then new
    everyday requests from the quality set (never trained on)."""
    chosen = recent_prompts(store, assistant_id, limit=count // 2)
    for prompt in [*QuestionSet.shipped().style, *FALLBACK_PROMPTS]:
        if len(chosen) >= count:
            break
        if prompt not in chosen:
            chosen.append(prompt)
    return chosen


def side_by_side(engine: Engine, store: Store, assistant: Assistant, candidate_id: VersionId,
                 prompts: list[str], sampling: Sampling = GREEDY) -> list[dict[str, Any]]:
    """[{prompt, current, candidate}] with the active version (or bare base) vs the candidate."""
    current = adapter_refs(store, assistant)
    candidate = [AdapterRef(candidate_id, verified_path(store, candidate_id), 1.0)]
    system = system_prompt(store, assistant)
    chats = [([{"role": "system", "content": system}] if system else [])
             + [{"role": "user", "content": p}] for p in prompts]
    previous = engine.adapters

    def answer(messages: list[dict[str, str]]) -> str:
        stream = engine.chat(messages, sampling)
        text = stream.read().strip()
        # an answer cut at the token limit says so, not as if it ended there
        return text + "…" if stream.stats.finish_reason == "length" else text

    try:
        engine.set_adapters(current)
        before = [answer(messages) for messages in chats]
        engine.set_adapters(candidate)
        after = [answer(messages) for messages in chats]
    finally:
        engine.set_adapters(previous)
    return [{"prompt": p, "current": b, "candidate": a}
            for p, b, a in zip(prompts, before, after, strict=True)]


def request_activation(store: Store, engine: Engine, candidate_id: VersionId,
                       prompts: list[str] | None = None) -> ConsentRequest:
    """The `activate` consent request for a candidate, its evidence including side-by-side
    answers. Decide it with `upgrades.decisions.answer(store, request.id, granted=..., via=...)`."""
    version = versions.get_version(store, candidate_id)
    assistant = get_assistant(store, version.assistant_id)
    if get_card(store, version.id) is None:
        previous = engine.adapters
        try:
            for _ in quality.for_version(store, engine, version):
                pass
        finally:
            engine.set_adapters(previous)
    kind, summary, evidence = versions.describe_activation(store, version)
    chosen = prompts or review_prompts(store, assistant.id)
    evidence["side_by_side"] = side_by_side(engine, store, assistant, version.id, chosen)
    return consent.request(store, kind, assistant.id, version.id, summary, evidence)
