"""What every stage shares: the error for bad input, the CLI's exit codes, JSON-ready outcomes.

A stage is a function with typed inputs that returns a JSON-able outcome (a dict, or a dataclass with
``to_dict()``). It raises :class:`StageInputError` when its input is wrong (an unknown data set, a
missing partition, a malformed argument): the CLI exits :data:`BAD_INPUT` with the one-line reason
and the Airflow layer fails the task without retries (a retry would be refused too). Anything else
that goes wrong is a failure worth a retry (exit 1 with the traceback).
"""

from __future__ import annotations

import json
import os
from typing import Any

# Exit codes of `python -m tradewind <stage>`.
OK = 0
FAILED = 1
BAD_INPUT = 2
# The stage ran and its verdict is "no" (a quarantined batch): the outcome is on stdout all the same.
REJECTED = 3

# Where a stage also writes its outcome when set: a pod's /airflow/xcom/return.json, so the
# KubernetesPodOperator's sidecar returns it as the task's XCom exactly as stdout does locally.
RESULT_FILE_ENV = "TRADEWIND_RESULT_FILE"


class StageInputError(ValueError):
    """A stage's input is wrong; the message says what and where (exit code 2, no retry)."""


def as_json(outcome: Any) -> str:
    """The outcome as one JSON document (dataclasses through their ``to_dict``)."""
    document = outcome.to_dict() if hasattr(outcome, "to_dict") else outcome
    return json.dumps(document, indent=2, sort_keys=True, default=str)


def write_result_file(text: str) -> None:
    """Also write the outcome to ``$TRADEWIND_RESULT_FILE`` when set (a pod's XCom file)."""
    target = os.environ.get(RESULT_FILE_ENV)
    if not target:
        return
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with open(target, "w", encoding="utf-8") as fh:
        fh.write(text)
