"""``python -m tradewind.serving``: the model server, one uvicorn worker.

    python -m tradewind.serving --model-name transactions --host 127.0.0.1 --port 8081
    python -m tradewind.serving --model-name transactions --model-dir /mnt/models --model-version 4

Models come from the MLflow registry at ``MLFLOW_TRACKING_URI`` (else the embedded store under
``data/mlflow``); the inference log goes to the profile's ``storage.root`` (``TRADEWIND_PROFILE``,
``TRADEWIND_STORAGE_ROOT``). The admin endpoints need ``TRADEWIND_SERVING_ADMIN_TOKEN``.

The server starts even when the model has no champion yet: ``/readyz`` answers 503 with the
reason, and the registry is polled every ``reload_interval_s`` until a champion appears.

With ``--model-dir`` (single-model mode, what KServe's ServingRuntime ``tradewind-mlflow`` runs) the
server serves the one version in that folder as its champion and never reads the registry: KServe
splits the traffic between revisions, each serving one version.

One worker process on purpose: the traffic split lives in the process (see ``router.py``).

Exit codes: 0 after a clean shutdown; 2 bad input (a malformed ``serving.yaml``, an unknown data set).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, NoReturn
from urllib.parse import urlsplit, urlunsplit

import typer

from tradewind.data.spec import SpecError

cli = typer.Typer(help="Serve a registered model's champion and challenger.", add_completion=False)

BAD_INPUT = 2
MODEL_NAME_ENV = "TRADEWIND_MODEL_NAME"
DATASET_ENV = "TRADEWIND_DATASET"
MODEL_DIR_ENV = "TRADEWIND_MODEL_DIR"
MODEL_VERSION_ENV = "TRADEWIND_MODEL_VERSION"


def _bad_input(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(BAD_INPUT)


@cli.command()
def serve(
    model_name: Annotated[
        str | None, typer.Option(envvar=MODEL_NAME_ENV, help="Registered model (default: serving.yaml).")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(envvar=DATASET_ENV, help="Its data set (default: serving.yaml, else the model).")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
    config: Annotated[Path | None, typer.Option(help="Serving config (default: include/config/serving.yaml).")] = None,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else the local store).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request (costs throughput).")] = False,
    model_dir: Annotated[
        Path | None,
        typer.Option(
            envvar=MODEL_DIR_ENV,
            help="Single-model mode: serve the version downloaded to this folder (KServe: /mnt/models) as the "
            "champion, without the registry.",
        ),
    ] = None,
    model_version: Annotated[
        str | None,
        typer.Option(envvar=MODEL_VERSION_ENV, help="Single-model mode: the registered version in --model-dir."),
    ] = None,
) -> None:
    """Start the server (runs until interrupted)."""
    import uvicorn

    from tradewind.serving.app import create_app
    from tradewind.serving.config import load_serving_config
    from tradewind.serving.models import FolderModelLoader
    from tradewind.settings import get_settings

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress bars in a server log
    if model_dir is not None and not model_version:
        _bad_input(f"--model-dir {model_dir} needs --model-version (or {MODEL_VERSION_ENV}): the version it holds")
    if model_dir is not None and not model_dir.is_dir():
        _bad_input(f"--model-dir {model_dir}: no such folder")
    try:
        settings = load_serving_config(config, model_name=model_name, dataset=dataset)
        profile_settings = get_settings()
        spec = profile_settings.spec(settings.dataset)
        log_root = profile_settings.serving.inference_log_root or profile_settings.storage.root
        if model_dir is not None:
            loader = FolderModelLoader(
                settings.model_name, model_dir, str(model_version), threads=settings.model_threads
            )
            source = f"{model_dir} (version {model_version}, single-model mode)"
            app = create_app(settings, loader=loader, spec=spec, log_root=log_root)
        else:
            uri = profile_settings.tracking_uri(tracking_uri)
            source = _redact(uri)
            app = create_app(settings, tracking_uri=uri, spec=spec, log_root=log_root)
    except SpecError as err:  # serving.yaml, the profile or the data set's spec
        _bad_input(str(err))
    logging.getLogger(__name__).info(
        "Serving model '%s' (data set %s) from %s on http://%s:%d",
        settings.model_name,
        settings.dataset,
        source,
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
