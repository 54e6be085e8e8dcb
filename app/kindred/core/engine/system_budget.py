"""Fitting the system prompt (persona + stated preferences) into the model's context.

A persona can be long (45 kB pasted from elsewhere), preferences pile up (80 of them), and a
bundle can carry one of any length: sent as is, the prompt overflows the context and every
answer fails inside llama.cpp. The system prompt gets at most `SYSTEM_SHARE` of the tokens left
after the answer's room; past that the *oldest* preferences are left out first (the newest say
what the person wants now), then the persona keeps its beginning. What was left out is said in
`FittedSystem.note`, for the chat to show; nothing stored changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

SYSTEM_SHARE = 0.5
"""The largest part of the prompt budget the system prompt may take (the rest: the chat)."""
Count = Callable[[str], int]
"""Tokens a system prompt costs (with the chat template's markers)."""


PREFERENCES_HEADER = "The user has told you these preferences; always follow them:"


def compose_system_prompt(persona: str, preferences: list[str]) -> str:
    """The persona, then the preferences as a list (pure, shared with the dataset builder)."""
    parts = [persona.strip()] if persona.strip() else []
    if preferences:
        parts.append(PREFERENCES_HEADER + "\n" + "\n".join(f"- {p}" for p in preferences))
    return "\n\n".join(parts)


def without_preferences(system: str) -> str:
    """The persona alone of a system prompt `compose_system_prompt` made (what the base reads
    when nothing was stated; the training compares the two, see `training.replay`)."""
    if system.startswith(PREFERENCES_HEADER):
        return ""
    return system.split("\n\n" + PREFERENCES_HEADER, 1)[0]


@dataclass(frozen=True)
class FittedSystem:
    text: str
    preferences_left_out: int = 0
    persona_shortened: bool = False

    @property
    def note(self) -> str | None:
        """What the person should know, or None when everything fits."""
        parts = []
        if self.preferences_left_out:
            many = self.preferences_left_out
            parts.append(f"the {many} oldest stated preference{'s' if many > 1 else ''}")
        if self.persona_shortened:
            parts.append("the end of the persona")
        if not parts:
            return None
        return ("Too long for this model's context, so this answer did not see "
                f"{' and '.join(parts)}. Nothing was deleted; shorten the persona or turn off "
                "old preferences to fix it.")


def fit_system_prompt(persona: str, preferences: list[str], limit: int, count: Count
                      ) -> FittedSystem:
    """The persona and the newest preferences that fit in `limit` tokens (preferences are
    oldest first, as stored)."""
    full = compose_system_prompt(persona, preferences)
    if count(full) <= limit:
        return FittedSystem(full)
    # The most recent preferences that fit beside the whole persona (binary search: the count
    # grows with each preference kept).
    low, high = 0, len(preferences)
    while low < high:
        middle = (low + high + 1) // 2
        if count(compose_system_prompt(persona, preferences[-middle:])) <= limit:
            low = middle
        else:
            high = middle - 1
    kept = preferences[len(preferences) - low:] if low else []
    if low or count(compose_system_prompt(persona, [])) <= limit:
        return FittedSystem(compose_system_prompt(persona, kept), len(preferences) - low)
    # The persona alone does not fit: keep as much of its beginning as fits.
    text = persona.strip()
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if count(text[:middle] + "…") <= limit:
            low = middle
        else:
            high = middle - 1
    return FittedSystem(text[:low] + "…" if low else "", len(preferences), True)


def split_system_prompt(text: str) -> tuple[str, list[str]]:
    """The persona and preferences `compose_system_prompt` joined (its inverse)."""
    marker = PREFERENCES_HEADER + "\n"
    if text.startswith(marker):
        persona, block = "", text[len(marker):]
    elif "\n\n" + marker in text:
        persona, block = text.rsplit("\n\n" + marker, 1)
    else:
        return text, []
    items = ("\n" + block).split("\n- ")[1:]
    return persona, items


def fit_system_message(text: str, limit: int, count: Count) -> FittedSystem:
    """`fit_system_prompt` for a composed system prompt (what the engine receives)."""
    if count(text) <= limit:
        return FittedSystem(text)
    persona, preferences = split_system_prompt(text)
    return fit_system_prompt(persona, preferences, limit, count)


def system_limit(budget: int) -> int:
    """The tokens the system prompt may take out of a prompt budget."""
    return max(1, int(budget * SYSTEM_SHARE))
