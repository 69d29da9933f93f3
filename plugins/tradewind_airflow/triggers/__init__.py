"""Deferrable triggers (the canary issue adds the metrics-polling trigger)."""
