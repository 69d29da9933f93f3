"""
### Ingest

Lands one day of a data set as a raw partition, `raw/<dataset>/date=YYYY-MM-DD/`, in the data lake
(`file://` locally, `s3://` or `gs://` in the cloud, chosen by the environment profile).

* **Schedule:** daily, for the day that just ended; no catch-up.
* **Manual:** *Trigger DAG* opens a form: the date, a source override (a URI with `{date}` for a
  data set read from files) and, for the synthetic source only, corruptions or drift to inject.
* **Sources are contained:** a files source reads only under the allowed roots (the spec's source
  folder, `<lake>/landing/<dataset>/`, the profile's `sources.allowed_roots`; see
  docs/data-governance.md); anything else fails the task, without retries, before a byte is read.
* **Writes are atomic:** files are committed with a manifest; re-running a date replaces it.
* **Emits** the `raw/<dataset>` Asset; its extra carries the row count, content hash, schema
  version and partition URI. The `validate_<dataset>` DAG runs on it.
"""

from __future__ import annotations

from airflow.sdk import DAG, CronDataIntervalTimetable, Param

from tradewind.data.corruption import CORRUPTIONS
from tradewind.settings import get_settings
from tradewind_airflow.assets import zone_asset
from tradewind_airflow.defaults import DEFAULT_ARGS, START, partition_date_param
from tradewind_airflow.operators.partition import DRIFT_KINDS, PartitionIngestOperator

for spec in get_settings().specs():
    with DAG(
        dag_id=f"ingest_{spec.name}",
        description=f"Land one day of {spec.name} as a raw partition",
        schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        start_date=START,
        catchup=False,
        # One run at a time: raw events of one Asset that land within milliseconds of each other can
        # race the scheduler's asset queue (a later event is left waiting for the next one).
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["tradewind", "ingest", spec.name],
        doc_md=__doc__,
        params={
            "date": partition_date_param("The day to land (YYYY-MM-DD). Empty: the run's logical date."),
            "source": Param(
                None,
                type=["null", "string"],
                title="Source override",
                description=(
                    "Files source only: a URI or path with {date}, e.g. s3://bucket/in/{date}/*.parquet. It must lie"
                    " under an allowed root (the spec's source folder, the lake's landing/<dataset>/ folder or the"
                    " profile's sources.allowed_roots); anything else is refused before a byte is read."
                ),
            ),
            "corruptions": Param(
                [],
                type="array",
                items={"type": "string", "enum": sorted(CORRUPTIONS)},
                title="Corruptions",
                description="Synthetic source only: break the batch on purpose to see it quarantined.",
            ),
            "drift": Param(
                "none",
                enum=list(DRIFT_KINDS),
                title="Drift",
                description="Synthetic source only: shift the data to exercise drift checks.",
            ),
        },
    ):
        PartitionIngestOperator(
            task_id="ingest_partition",
            dataset=spec.name,
            outlets=[zone_asset("raw", spec.name)],
            doc_md="Land the partition and emit the raw Asset with its lineage.",
        )
