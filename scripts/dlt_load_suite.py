"""Runs dlt's own load tests (unmodified, from ../shared/suites/dlt or $DBLOAD_SUITES/dlt) on the `databricks` destination against
LocalSQLWarehouseServer, over HTTPS, with dlt's default Volume staging (PUT into `_dlt_staging_load_volume`).

    python scripts/dlt_load_suite.py [pytest args...]     # e.g. -k merge

The suite needs the dlt release it was written for and pytest 7, so it runs in its own virtualenv
(.suites/dlt, built on first use from the package index); the server runs here, in this project's environment.
The suite writes into its working folder, so a copy of it runs in a temporary folder. Prints pytest's summary;
the exit code is pytest's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from suite_support import SUITE_MISSING, port_443_or_free, suite_dir, suite_pytest

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


def _secrets(token: str, client_id: str, client_secret: str, port: int) -> str:
    """tests/.dlt/secrets.toml, where dlt's CI keeps the workspace's credentials (tests override them there). Both a
    token and a service principal, as on dlt's CI: OAuth M2M signs in, which needs the SDK to reach host:443."""
    oauth = f'client_id = "{client_id}"\nclient_secret = "{client_secret}"\n' if port == 443 else ""
    return (
        "[destination.databricks.credentials]\n"
        'server_hostname = "127.0.0.1"\nhttp_path = "/sql/1.0/warehouses/local"\ncatalog = "main"\n'
        f'access_token = "{token}"\n{oauth}'
        f"connection_parameters = {{ _port = {port}, enable_telemetry = false }}\n"
    )


def main(argv: list[str]) -> int:
    from dagster_dbload.testing import LocalSQLWarehouseServer

    source = suite_dir("dlt")
    if source is None:
        return SUITE_MISSING
    pytest = suite_pytest("dlt", REQUIREMENTS)  # its own executable: dlt names a default pipeline after it
    with tempfile.TemporaryDirectory() as folder:
        suite = os.path.join(folder, "dlt")
        shutil.copytree(source, suite)
        with LocalSQLWarehouseServer(
            path=os.path.join(folder, "warehouse.duckdb"), port=port_443_or_free(), tls=True
        ) as server:
            port = int(server.url.rsplit(":", 1)[1])
            with server.warehouse.connect() as connection:  # what dlt's CI workspace holds before the tests
                for statement in SETUP:
                    connection.cursor().execute(statement)
            with open(os.path.join(suite, "tests", ".dlt", "secrets.toml"), "w") as fh:
                fh.write(_secrets(server.access_token, server.client_id, server.client_secret, port))
            env = {
                **os.environ,
                "ACTIVE_DESTINATIONS": '["databricks"]',
                "ALL_FILESYSTEM_DRIVERS": '["memory", "file"]',
                "RUNTIME__DLTHUB_TELEMETRY": "false",
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
