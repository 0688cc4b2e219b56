"""The app tier's server (see server.py)."""
