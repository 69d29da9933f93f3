"""Training: XGBoost and PyTorch trainers behind one entry, the model contract, and the typer CLI.

Airflow-free: this package runs inside a worker subprocess, a Kubernetes pod or the model server.
Heavy frameworks are imported only by the module that needs them (``xgb``, ``torch_tabular``).
"""
