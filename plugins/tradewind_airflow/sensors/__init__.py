"""Sensors (none yet: Tradewind pipelines wait on Assets, not sensors)."""
