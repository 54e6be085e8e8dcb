"""How an answer is sampled: one type for what an assistant keeps (its settings, checked when
set) and what the engine is asked with (a chat, a greedy comparison, a request from another
app), so the two cannot drift apart."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from kindred.core.basics.errors import KindredError


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1
    max_tokens: int = 512

    def validated(self) -> Sampling:
        for f in fields(self):  # types first: a float top_k would reach llama.cpp's C API
            value = getattr(self, f.name)
            whole = f.name in ("top_k", "max_tokens")
            if isinstance(value, bool) or not isinstance(value, int if whole else int | float) \
                    or not math.isfinite(value):
                kind = "a whole number" if whole else "a number"
                raise KindredError(f"Invalid sampling setting: {f.name} must be {kind} "
                                   f"(got {value!r}).")
        checks = [
            (0.0 <= self.temperature <= 5.0, "temperature must be between 0 and 5"),
            (0.0 < self.top_p <= 1.0, "top_p must be above 0 and at most 1"),
            (self.top_k >= 0, "top_k must be 0 or more"),
            (0.5 <= self.repeat_penalty <= 3.0, "repeat_penalty must be between 0.5 and 3"),
            (1 <= self.max_tokens <= 32768, "max_tokens must be between 1 and 32768"),
        ]
        for ok, message in checks:
            if not ok:
                raise KindredError(f"Invalid sampling setting: {message}.")
        return self
