"""Moved to `kindred.ui.kit.charts`; kept until `quality_card` (being edited) moves to
`ui/learning/` and imports it from there. Nothing else may import this."""

from kindred.ui.kit.charts import *  # noqa: F403
