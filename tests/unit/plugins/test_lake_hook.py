"""A stage run as a subprocess has no Airflow connections: the lake hook hands it the connection's
credentials as the standard variables its file system reads."""

from __future__ import annotations

import json

import pytest

from tradewind_airflow.hooks.lake import DataLakeHook

pytestmark = pytest.mark.unit


def test_an_aws_connection_becomes_the_aws_variables(monkeypatch):
    conn = {
        "conn_type": "aws",
        "login": "key",
        "password": "secret",
        "extra": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3", json.dumps(conn))
    env = DataLakeHook(lake_conn_id="lake_s3", root_uri="s3://lake").subprocess_env()
    assert env == {
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
    }


def test_no_connection_leaves_the_environments_own_credentials():
    assert DataLakeHook(lake_conn_id="", root_uri="file:///tmp/lake").subprocess_env() == {}
