"""Runs dlt's own load tests (vendored unmodified in third_party/dlt/) on the `databricks` destination against
LocalSQLWarehouseServer, over HTTPS, with dlt's default Volume staging (PUT into `_dlt_staging_load_volume`).

    python scripts/dlt_load_suite.py [pytest args...]     # e.g. -k merge

The suite needs the dlt release it was written for and pytest 7, so it runs in its own virtualenv
(.suites/dlt, built on first use from the package index); the server runs here, in this project's environment.
The suite writes into its working folder, so a copy of it runs in a temporary folder. Prints pytest's summary;
the exit code is pytest's.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITE = os.environ.get("DBLOAD_DLT_SUITE", os.path.join(ROOT, "third_party", "dlt"))
VENV = os.path.join(ROOT, ".suites", "dlt")
REQUIREMENTS = ["dlt[databricks,parquet]==1.26.0", "pytest>=7.4.4,<8", "pytest-cases>=3.8.6", "pytest-order",
                "pytest-timeout", "pytest-forked", "pytest-mock", "requests-mock", "pandas>=2.1.4,<3", "duckdb",
                "sqlalchemy<2", "pydantic>=2.10", "tqdm", "boto3",
                "sqlglot<30"]  # dlt 1.26 calls qualify(infer_schema=), which sqlglot 30 removed  # fmt: skip

# What a Databricks user exercises (issue 26): pipelines, merge, replace, write-disposition changes, scd2,
# the databricks-specific tests, arrow loading, the sql and job clients.
FILES = [
    "tests/load/pipeline/test_pipelines.py",
    "tests/load/pipeline/test_merge_disposition.py",
    "tests/load/pipeline/test_replace_disposition.py",
    "tests/load/pipeline/test_write_disposition_changes.py",
    "tests/load/pipeline/test_scd2.py",
    "tests/load/pipeline/test_databricks_pipeline.py",
    "tests/load/pipeline/test_arrow_loading.py",
    "tests/load/databricks",
    "tests/load/test_sql_client.py",
    "tests/load/test_job_client.py",
]

# Not applicable to a local warehouse, with the reason
NOT_APPLICABLE = {
    "s3-authorization or az-authorization": "staging in dlt CI's own S3 and Azure buckets, with their credentials",
    "test_databricks_gcs_external_location": "an external location in dlt CI's GCS bucket",
    "test_default_warehouse": "names dlt CI's own warehouse id (588dbd71bd802f4d); the server has one, `local`",
}


# dlt's CI workspace has a volume its custom-staging-volume test loads through
SETUP = [
    "CREATE CATALOG IF NOT EXISTS dlt_ci",
    "CREATE SCHEMA IF NOT EXISTS dlt_ci.dlt_tests_shared",
    "CREATE VOLUME IF NOT EXISTS dlt_ci.dlt_tests_shared.static_volume",
]


def _pytest() -> str:
    """The suite's pytest (its own executable: dlt names a default pipeline after the script that runs it)."""
    if not os.path.exists(os.path.join(VENV, "bin", "pytest")):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([os.path.join(VENV, "bin", "python"), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True)
    return os.path.join(VENV, "bin", "pytest")


def _port() -> int:
    """443 where it can be served: the Databricks SDK, which dlt asks for default credentials, dials host:443."""
    try:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 443))
        return 443
    except OSError:
        return 0


def main(argv: list[str]) -> int:
    from dagster_dbload.testing import LocalSQLWarehouseServer

    pytest = _pytest()
    with tempfile.TemporaryDirectory() as folder:
        suite = os.path.join(folder, "dlt")
        shutil.copytree(SUITE, suite)
        with LocalSQLWarehouseServer(path=os.path.join(folder, "warehouse.duckdb"), port=_port(), tls=True) as server:
            port = int(server.url.rsplit(":", 1)[1])
            with server.warehouse.connect() as connection:  # what dlt's CI workspace holds before the tests
                for statement in SETUP:
                    connection.cursor().execute(statement)
            prefix = "DESTINATION__DATABRICKS__CREDENTIALS__"
            env = {
                **os.environ,
                "ACTIVE_DESTINATIONS": '["databricks"]',
                "ALL_FILESYSTEM_DRIVERS": '["memory", "file"]',
                "RUNTIME__DLTHUB_TELEMETRY": "false",
                prefix + "SERVER_HOSTNAME": "127.0.0.1",
                prefix + "HTTP_PATH": "/sql/1.0/warehouses/local",
                prefix + "ACCESS_TOKEN": server.access_token,  # OAuth M2M signs in when both are set, as on dlt's CI
                prefix + "CLIENT_ID": server.client_id,
                prefix + "CLIENT_SECRET": server.client_secret,
                prefix + "CATALOG": "main",
                prefix + "CONNECTION_PARAMETERS": json.dumps({"_port": port, "enable_telemetry": False}),
                "SSL_CERT_FILE": server.certificate or "",
                "REQUESTS_CA_BUNDLE": server.certificate or "",
            }
            env.pop("PYTHONPATH", None)
            deselect = " and ".join(f"not ({k})" for k in NOT_APPLICABLE) or ""
            if "-k" in argv:
                at = argv.index("-k")
                deselect = f"({deselect}) and ({argv[at + 1]})" if deselect else argv[at + 1]
                argv = argv[:at] + argv[at + 2 :]
            command = [pytest, "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                       "-o", "addopts=-m 'not rfam'", "-o", "log_cli=false", *argv]  # fmt: skip
            if not any(a.startswith("tests/") for a in argv):
                command += FILES
            if deselect:
                command += ["-k", deselect]
            return subprocess.run(command, cwd=suite, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
