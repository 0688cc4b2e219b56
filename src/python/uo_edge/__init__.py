"""The local environment's front door (see proxy.py)."""
