"""Roll the served model back to the previous champion (or a named version) in one step."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from tradewind_airflow.hooks.mlflow import MlflowRegistryHook
from tradewind_airflow.operators.context import triggered_by


class ModelRollbackOperator(BaseOperator):
    """Move ``champion`` back (registry first, recorded), then make the serving target follow.

    :param model_name: the registered model (the data set's name).
    :param to_version: a version to return to; empty: the ``previous-champion`` alias.
    :param reason: recorded with the alias move.
    """

    template_fields: Sequence[str] = ("model_name", "to_version", "reason")
    ui_color = "#fadbd8"

    def __init__(
        self,
        *,
        model_name: str,
        to_version: str | None = None,
        reason: str = "manual rollback",
        mlflow_conn_id: str = "mlflow_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_name = model_name
        self.to_version = to_version
        self.reason = reason
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def registry(self) -> MlflowRegistryHook:
        return MlflowRegistryHook(mlflow_conn_id=self.mlflow_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from tradewind.stages.outcome import StageInputError
        from tradewind.stages.rollback import rollback
        from tradewind_airflow.serving_targets import serving_target

        try:
            outcome = rollback(
                self.model_name,
                client=self.registry.get_conn(),
                to_version=self.to_version,
                reason=str(self.reason or "manual rollback"),
                triggered_by=triggered_by(context),
            )
        except StageInputError as err:
            raise AirflowFailException(str(err)) from err
        self.log.info(
            "%s: champion %s -> %s (%s)", self.model_name, outcome["champion_before"], outcome["champion"], self.reason
        )
        target = serving_target(self.model_name)
        target.set_split(0)
        target.sync(champion=outcome["champion"], challenger=outcome["challenger"])
        return outcome
