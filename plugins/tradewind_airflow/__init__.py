"""Tradewind's Airflow layer: hooks, operators, sensors and triggers that call the Airflow-free core."""
