"""MLflow registry: log, register, compare, promote and roll back by alias (Airflow-free).

- ``store``: where the store is (SQLite + ``data/mlflow`` by default), clients, the registry lock.
- ``tracking``: idempotent training runs (params, metrics, tags, ``mlflow.data`` input, model).
- ``versions``: one registered version per run; the gate's decision recorded on the version.
- ``aliases``: champion/challenger/previous-champion moves with compare-and-set and a history.
- ``gate``: the promotion gate and retrain governance (pure; config in ``promotion.yaml``).

Nothing is imported here, so ``import tradewind.registry.gate`` does not pay for MLflow.
"""
