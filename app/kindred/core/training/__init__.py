"""Learning from the user: dataset -> PEFT LoRA training in its own process -> a candidate version.

The GUI/CLI side (`runner`, `run`, `config`, `data`, `tokens`, `estimate`, `evidence`) never
imports torch; `trainer`, `base_cache` and `job` do, and only run in the training process
(`python -m kindred.core.training`). Keep this file free of imports for that reason.
"""

WORKER_ARG = "--training-worker"
"""In the desktop bundle there is no Python to run `-m kindred.core.training` with: the app's
own executable is started with this first argument instead (see `kindred.frozen`)."""
PREPARE_ARG = "--prepare-worker"
"""The same for the process that prepares a base for training (`training.prepare`)."""
SMOKE_ARG = "--smoke-worker"
"""One training step on a tiny model made from a config (`training.smoke`): the build runs it
inside the bundle, so a dependency the trainer needs but the bundle lacks fails the build."""
