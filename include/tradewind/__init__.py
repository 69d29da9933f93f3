"""Tradewind core: the ML side of the platform. Nothing in this package imports Airflow."""
