"""Where Kindred keeps a person's data: one place, overridable for tests and portable installs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

ENV_HOME = "KINDRED_HOME"


@dataclass(frozen=True)
class DataHome:
    """The data home and the fixed layout below it (see DESIGN.md, "Data home")."""

    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / "kindred.db"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def objects(self) -> Path:
        return self.archive / "objects"

    @property
    def datasets(self) -> Path:
        return self.archive / "datasets"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def tmp(self) -> Path:
        """Scratch space on the same filesystem, so finished files can be renamed into place."""
        return self.root / "tmp"

    def ensure(self) -> DataHome:
        for folder in (self.root, self.objects, self.datasets, self.runs, self.cache, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> DataHome:
    """`--home` wins over `KINDRED_HOME`, which wins over the platform's user data dir."""
    if explicit:
        root = Path(explicit)
    elif os.environ.get(ENV_HOME):
        root = Path(os.environ[ENV_HOME])
    else:
        root = Path(platformdirs.user_data_dir("Kindred", appauthor=False))
    return DataHome(root.expanduser().resolve()).ensure()
