"""`uo up`: one environment on one machine's Docker engine, with the cluster's ordering, isolation
and health gating (topology.py says what should run, reconcile.py makes the engine match it)."""
