"""Learner dashboard and interim reviews (SPEC F9)."""
