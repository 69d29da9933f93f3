"""Operators: thin wrappers that call the Airflow-free core."""
