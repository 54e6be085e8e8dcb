"""Evidence for activating a candidate: its quality card, and the current and the candidate
version's answers side by side on prompts its training never saw (show, don't tell).

Answers are greedy (temperature 0) so the two columns differ only by the adapter. Runs on the
engine's thread (the GUI's inference worker; the CLI's main thread) and puts the engine's adapter
set back as it was, whatever happens. No torch.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, replace
from typing import Any

from kindred.core.archive import versions
from kindred.core.archive.assistant_state import speaks_through
from kindred.core.archive.cards import get_card
from kindred.core.archive.objects import adapter_refs, verified_path
from kindred.core.basics.hashing import sha256_bytes
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.sampling import Sampling
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.home import consent
from kindred.core.home.assistants import Assistant, get_assistant
from kindred.core.home.atomic import write_atomic
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


REVIEW_CACHE = "review"
"""Under the data home's cache: the review's side-by-side answers, written by the training
process right after the quality card so that Review opens at once (rebuildable)."""


REVIEW_TOKENS = "KINDRED_REVIEW_TOKENS"
"""At most this many tokens per review answer, if set (the test suite keeps them short)."""


def review_sampling(assistant: Assistant) -> Sampling:
    """Greedy, and never longer than the assistant's own answers may be."""
    limit = min(GREEDY.max_tokens, assistant.sampling.max_tokens)
    with contextlib.suppress(ValueError):
        limit = min(limit, int(os.environ.get(REVIEW_TOKENS) or limit))
    return replace(GREEDY, max_tokens=max(1, limit))


def review_answers(store: Store, engine: Engine, assistant: Assistant, version_id: VersionId,
                   sampling: Sampling | None = None) -> list[dict[str, Any]]:
    """The side-by-side answers for the review: from the cache when they were worked out for
    the same current adapters, system prompt, prompts and sampling, else now (and cached)."""
    sampling = sampling or review_sampling(assistant)
    prompts = review_prompts(store, assistant.id)
    key = _review_key(store, assistant, version_id, prompts, sampling)
    path = store.home.cache / REVIEW_CACHE / f"{version_id}.json"
    with contextlib.suppress(OSError, ValueError):
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("key") == key and isinstance(cached.get("rows"), list):
            return list(cached["rows"])
    rows = side_by_side(engine, store, assistant, version_id, prompts, sampling)
    write_atomic(path, json.dumps({"key": key, "rows": rows}, ensure_ascii=False).encode())
    return rows


def _review_key(store: Store, assistant: Assistant, version_id: VersionId, prompts: list[str],
                sampling: Sampling) -> str:
    # what it talks through, read, not verified: `adapter_refs` hashes the files, which a
    # cache hit never needs and a miss does again in `side_by_side`
    current = speaks_through(store, assistant.id)
    body = {"version": version_id, "current": current, "prompts": prompts,
            "system": system_prompt(store, assistant), "sampling": asdict(sampling)}
    return sha256_bytes(json.dumps(body, sort_keys=True).encode())


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
    evidence["side_by_side"] = (side_by_side(engine, store, assistant, version.id, prompts)
                                if prompts else review_answers(store, engine, assistant,
                                                               version.id))
    return consent.request(store, kind, assistant.id, version.id, summary, evidence)
