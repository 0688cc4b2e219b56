"""The log reader `uo up` runs beside Prometheus: the `uo trace` view of one request, over HTTP,
for the environment dashboard's error-id search (uo_logs.server)."""
