"""Which part of a long conversation the model sees, chosen so the prompt's start stays put.

Dropping the oldest message at every turn changes the prompt right after the system prompt, so
llama.cpp can reuse none of its cache and evaluates the whole context again on every turn (the
"cliff": 30 s and more to the first token). Instead the window starts at a cut point that moves
only when the context is full, and then far enough to free half of it; the turns in between reuse
the cached prefix. The cut is a function of the messages alone (replayed from the first one), so
it is the same after a restart, in the GUI and in the CLI. When the cut does move, `shift_plan`
finds the kept turns in llama.cpp's cache so they are shifted into place instead of evaluated again.
"""

from __future__ import annotations

from collections.abc import Sequence


def stable_cut(costs: Sequence[int], roles: Sequence[str], fixed: int, budget: int) -> int:
    """How many leading turns to leave out: replay the conversation, and whenever a message
    would overflow `budget` tokens (with `fixed` tokens always there: the system prompt), drop
    whole old turns until at most half of the room is in use, the window starting at a user
    message. `costs[i]` is an upper bound of turn i's tokens. The last turn is always kept."""
    cut, used = 0, 0
    target = fixed + max(0, budget - fixed) // 2
    for i, cost in enumerate(costs):
        used += cost
        if fixed + used <= budget:
            continue
        while cut < i and (fixed + used > target or roles[cut] != "user"):
            used -= costs[cut]
            cut += 1
    return cut


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def shift_plan(cached: Sequence[int], tokens: Sequence[int], min_match: int = 16
               ) -> tuple[int, int] | None:
    """Where the new prompt `tokens` continues further along the cache: (start, gap) such that
    removing cached[start:start + gap] lines the rest of the cache up with `tokens` for at least
    `min_match` tokens. None when the plain prefix is already the best reuse."""
    start = common_prefix(cached, tokens)
    if start >= len(cached) or start >= len(tokens) - 1:
        return None
    rest = tokens[start:]
    best, best_at = 0, -1
    for j in range(start + 1, len(cached)):
        if cached[j] == rest[0]:
            m = common_prefix(cached[j:], rest)
            if m > best:
                best, best_at = m, j
    if best < min_match:
        return None
    return start, best_at - start
