"""The app tier's server (see server.py)."""

# The app server's own version (the bundle's is its image's revision); build info reports it.
__version__ = "0.2.2"
