#!/bin/bash
# Creates MLflow's role and database beside Airflow's, on the first start of an empty data
# directory (the postgres image runs /docker-entrypoint-initdb.d/* once, then never again).
# MLFLOW_DB_PASSWORD comes from the environment; psql quotes it (:'name'), the shell never expands it
# into SQL.
set -euo pipefail

: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD must be set (see .env.example)}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=mlflow_password="$MLFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;
SQL
