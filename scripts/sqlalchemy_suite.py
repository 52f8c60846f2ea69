"""Runs SQLAlchemy's dialect compliance suite as databricks-sqlalchemy runs it (its `tests/test/`, unmodified,
from ../shared/suites/databricks-sqlalchemy or $DBLOAD_SUITES: SQLAlchemy's reusable tests with its own skip lists and
requirements) against LocalSQLWarehouseServer over HTTPS, the reviewed tests by default (`-m reviewed`).

    python scripts/sqlalchemy_suite.py [pytest args...]     # e.g. -k ComponentReflection

The suite runs in its own virtualenv (.suites/sqlalchemy: the SQLAlchemy and pytest of its lock file) and imports its lists as `databricks.sqlalchemy.test`: the plugin sqlalchemy_suite_path.py puts the
suite's folder there. Prints pytest's summary; the exit code is pytest's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from suite_support import SUITE_MISSING, port_443_or_free, suite_dir, suite_pytest

# The releases the suite was written for (later SQLAlchemy releases dropped test classes its lists import)
REQUIREMENTS = ["databricks-sqlalchemy==2.0.10", "sqlalchemy==2.0.37", "pytest==7.4.4"]  # its poetry.lock

# What the suite's README asks for: an empty schema to run in, and an empty `test_schema` beside it
SETUP = ["CREATE SCHEMA IF NOT EXISTS main.sqla", "CREATE SCHEMA IF NOT EXISTS main.test_schema"]


def main(argv: list[str]) -> int:
    from dagster_dbload.testing import LocalSQLWarehouseServer

    suite = suite_dir("databricks-sqlalchemy")
    if suite is None:
        return SUITE_MISSING
    pytest = suite_pytest("sqlalchemy", REQUIREMENTS)
    with (
        tempfile.TemporaryDirectory() as folder,
        LocalSQLWarehouseServer(
            path=os.path.join(folder, "warehouse.duckdb"), port=port_443_or_free(), tls=True
        ) as server,
    ):
        with server.warehouse.connect() as connection:
            for statement in SETUP:
                connection.cursor().execute(statement)
        port = server.url.rsplit(":", 1)[1]
        uri = f"databricks://token:{server.access_token}@127.0.0.1?http_path=/sql/1.0/warehouses/local&catalog=main&schema=sqla"
        env = {
            **os.environ,
            "DBLOAD_E2E_PORT": "" if port == "443" else port,
            "DBLOAD_SQLALCHEMY_SUITE": suite,
            "SSL_CERT_FILE": server.certificate or "",
            "REQUESTS_CA_BUNDLE": server.certificate or "",
            "PYTHONPATH": os.pathsep.join(
                [os.path.dirname(os.path.abspath(__file__)), os.environ.get("PYTHONPATH", "")]
            ),
        }
        marks = [] if "-m" in argv else ["-m", "reviewed"]
        command = [pytest, "-q", "-p", "no:cacheprovider", "-p", "no:dagster_dbload",
                   "-p", "sqlalchemy_suite_path", "-p", "e2e_thrift_only", "--rootdir", os.path.join(suite, "test"),
                   "-c", os.path.join(suite, "test", "setup.cfg"), "-o", "addopts=",
                   os.path.join(suite, "test", "test_suite.py"), "--dburi", uri, *marks, *argv]  # fmt: skip
        return subprocess.run(command, cwd=folder, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
