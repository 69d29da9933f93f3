"""The model server: champion/challenger routing, validation, inference log, metrics (Airflow-free)."""
