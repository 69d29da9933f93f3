"""MLflow registry: log, register, compare, promote and roll back by alias (filled by the training issue)."""
