"""Training: XGBoost and PyTorch trainers and the typer CLI entrypoint (filled by the training issue)."""
