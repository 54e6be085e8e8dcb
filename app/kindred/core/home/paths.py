"""Where Kindred keeps a person's data: one place, overridable for tests and portable installs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from kindred.core.basics.errors import KindredError

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
        """Create the folders; a home that is a file, or under a folder we may not write to,
        is a clear KindredError (nothing is created)."""
        if self.root.exists() and not self.root.is_dir():
            raise KindredError(f"The data home {self.root} is a file, not a folder. Choose a "
                               "folder with --home or KINDRED_HOME. Nothing was changed.")
        try:
            for folder in (self.root, self.objects, self.datasets, self.runs, self.cache,
                           self.tmp):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise KindredError(f"Kindred cannot create its data home {self.root}: {reason} "
                               f"({exc.filename}). Choose a folder you can write to with "
                               "--home or KINDRED_HOME.") from exc
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
