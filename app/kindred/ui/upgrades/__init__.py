"""Replacing versions gently: the rollout bar, the blind trial, retirement interviews, and moving
to another model.
"""
