"""``python -m tradewind.serving``: the model server, one uvicorn worker.

    python -m tradewind.serving --model-name transactions --host 127.0.0.1 --port 8081

Models come from the MLflow registry at ``MLFLOW_TRACKING_URI`` (else the embedded store under
``data/mlflow``); the inference log goes to the profile's ``storage.root`` (``TRADEWIND_PROFILE``,
``TRADEWIND_STORAGE_ROOT``). The admin endpoints need ``TRADEWIND_SERVING_ADMIN_TOKEN``.

The server starts even when the model has no champion yet: ``/readyz`` answers 503 with the
reason, and the registry is polled every ``reload_interval_s`` until a champion appears.

One worker process on purpose: the traffic split lives in the process (see ``router.py``).

Exit codes: 0 after a clean shutdown; 2 bad input (a malformed ``serving.yaml``, an unknown data set).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import typer

from tradewind.data.spec import SpecError

cli = typer.Typer(help="Serve a registered model's champion and challenger.", add_completion=False)

BAD_INPUT = 2


@cli.command()
def serve(
    model_name: Annotated[str | None, typer.Option(help="Registered model (default: serving.yaml).")] = None,
    dataset: Annotated[str | None, typer.Option(help="Its data set (default: serving.yaml, else the model).")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
    config: Annotated[Path | None, typer.Option(help="Serving config (default: include/config/serving.yaml).")] = None,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else the local store).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request (costs throughput).")] = False,
) -> None:
    """Start the server (runs until interrupted)."""
    import uvicorn

    from tradewind.registry.store import resolve_tracking_uri
    from tradewind.serving.app import create_app
    from tradewind.serving.config import load_serving_config

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress bars in a server log
    try:
        settings = load_serving_config(config, model_name=model_name, dataset=dataset)
        uri = resolve_tracking_uri(tracking_uri)
        app = create_app(settings, tracking_uri=uri)
    except SpecError as err:  # serving.yaml, the profile or the data set's spec
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(BAD_INPUT) from None
    logging.getLogger(__name__).info(
        "Serving model '%s' (data set %s) from %s on http://%s:%d",
        settings.model_name,
        settings.dataset,
        _redact(uri),
        host,
        port,
    )
    uvicorn.run(app, host=host, port=port, workers=1, log_level=log_level.lower(), access_log=access_log)


def _redact(uri: str) -> str:
    """A URI without its user and password (never a secret in the log)."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


if __name__ == "__main__":
    cli()
