"""The desktop bundle's one executable (packaging/kindred.spec): GUI, CLI and the workers.

In the bundle `sys.executable` is the app itself and there is no Python beside it, so the
trainer is started as `kindred --training-worker RUN --consent ID` (`runner.training_command`)
and the preparation of a base as `kindred --prepare-worker` (`prepare.command`). Those
arguments are handled here before anything else is imported. Two guards keep a frozen app
from multiplying: multiprocessing's children are caught by `freeze_support`, and a process
started from inside the training worker never opens the GUI.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from kindred.core.training import PREPARE_ARG, SMOKE_ARG, WORKER_ARG

IN_WORKER = "KINDRED_IN_TRAINING_WORKER"
"""Set by the training worker for everything it starts: such a process must not open the GUI."""
EXIT_REFUSED = 64


def prepare_environment(env: dict[str, str] | os._Environ[str], bundle: Path) -> None:
    """Point Kindred at the bundle's resources, and give programs we start (a browser for a
    link, xdg-open) the library path the user had, not the bundle's."""
    env.setdefault("KINDRED_RESOURCES", str(bundle / "resources"))
    if "LD_LIBRARY_PATH_ORIG" in env:
        env["LD_LIBRARY_PATH"] = env["LD_LIBRARY_PATH_ORIG"]
    else:
        env.pop("LD_LIBRARY_PATH", None)


def opens_gui(argv: Sequence[str]) -> bool:
    from kindred.cli import _opens_the_app

    return _opens_the_app(argv)


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()  # a multiprocessing child runs its task and exits here
    args = list(sys.argv[1:] if argv is None else argv)
    if getattr(sys, "frozen", False):
        prepare_environment(os.environ, Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)))
    if args[:1] == [WORKER_ARG]:
        os.environ[IN_WORKER] = "1"
        from kindred.core.training.__main__ import main as worker_main
        from kindred.core.training.run import exit_now

        exit_now(worker_main(args[1:]))
    if args[:1] == [PREPARE_ARG]:
        os.environ[IN_WORKER] = "1"
        from kindred.core.training.prepare import main as prepare_main
        from kindred.core.training.run import exit_now

        exit_now(prepare_main(args[1:]))
    if args[:1] == [SMOKE_ARG]:
        from kindred.core.training.smoke import main as smoke_main

        return smoke_main()
    if os.environ.get(IN_WORKER) and opens_gui(args):
        print("kindred: started from inside a training worker with "
              f"{' '.join(args) or 'no command'}: not opening the app again.", file=sys.stderr)
        return EXIT_REFUSED
    from kindred.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
