"""Replacing versions gently: rollout, side-by-side trials, retirement, migration."""
