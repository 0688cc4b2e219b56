"""environment-service: what runs where (from infra/), deployment history, promotion diffs."""

__version__ = "0.1.0"
