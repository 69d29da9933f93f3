"""The canary DAG hands the form's values to the operator as they are typed (native rendering): a list of
stages and numbers, not their text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.dags

CANARY_DAG = Path(__file__).resolve().parents[2] / "dags" / "canary.py"


def test_the_forms_values_reach_the_operator_as_values(airflow_home: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(CANARY_DAG))
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["canary_transactions"]
    task: Any = dag.get_task("rollout")
    form = {k: dag.params[k] for k in dag.params} | {"stages": [5, 25, 100], "bake_seconds": 1.5}
    task.render_template_fields({"params": form}, jinja_env=dag.get_template_env())
    assert task.stages == [5, 25, 100]
    assert task.bake_seconds == 1.5
    assert isinstance(task.min_requests, int)
    assert task.config.stages == (5, 25, 100)
