"""uo: the UnifyOps operator's command line (rendering, and later the release loop)."""
