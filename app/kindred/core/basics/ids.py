"""The ids of Kindred's things, as distinct types.

A version id and a model id are both strings, an assistant id and a conversation id both
integers; `NewType` lets mypy catch one passed where the other is meant. They cost nothing
at run time: rows read from SQLite and JSON are used as they come, and a new id is wrapped
once where it is made.
"""

from __future__ import annotations

from typing import NewType

VersionId = NewType("VersionId", str)
"""An archived adapter version, e.g. `v0003-5f2c1a9e` (the archive's folder name)."""

AssistantId = NewType("AssistantId", int)
"""A row of `assistants`: one person's assistant on one base model."""

ConversationId = NewType("ConversationId", int)
"""A row of `conversations`."""

RolloutId = NewType("RolloutId", int)
TrialId = NewType("TrialId", int)
ConsentId = NewType("ConsentId", int)
