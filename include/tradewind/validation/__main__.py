"""``python -m tradewind.validation``: version suites and validate a partition from the shell."""

from __future__ import annotations

import logging

import typer

from tradewind.settings import get_settings
from tradewind.validation.runner import validate_partition
from tradewind.validation.suite import write_suite

app = typer.Typer(help="Great Expectations suites and validation for Tradewind data sets.", no_args_is_help=True)


@app.command("build-suites")
def build_suites() -> None:
    """Rewrite include/expectations/<dataset>.v<N>.json from every dataset spec of the profile."""
    for spec in get_settings().specs():
        typer.echo(f"wrote {write_suite(spec)}")


@app.command()
def validate(dataset: str, date: str) -> None:
    """Validate one raw partition (exit code 1 when it fails and is quarantined)."""
    settings = get_settings()
    outcome = validate_partition(settings.spec(dataset), settings.storage.root, date)
    typer.echo(outcome.message())
    raise typer.Exit(0 if outcome.success else 1)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    app()
