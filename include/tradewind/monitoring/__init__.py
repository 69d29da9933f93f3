"""Monitoring: Evidently drift reports and the retrain decision (filled by the drift issue)."""
