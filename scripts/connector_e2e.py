"""Runs databricks-sql-connector's own end-to-end suite (unmodified, from ../shared/suites or $DBLOAD_SUITES) against
LocalSQLWarehouseServer, served over HTTPS on 127.0.0.1:443 as the suite builds `https://host:443`. Where 443
cannot be served (not root, or taken) it serves a free port, which the plugin e2e_thrift_only.py gives the
connector through its `_port` option; then the one test that needs 443 itself is deselected.

    python scripts/connector_e2e.py [pytest args...]     # e.g. -k "parameterized or complex"

Prints the port, then pytest's summary; the exit code is pytest's (5, after saying what to fetch, when the
suite is not on this machine).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from suite_support import SUITE_MISSING, port_443_or_free, suite_dir

# Not applicable to a local Thrift warehouse, with the reason
NOT_APPLICABLE = {
    "sea": "the Statement Execution API backend (use_sea=True), not the Thrift protocol the server speaks",
    "kernel": "the Rust kernel backend (use_kernel=True), not installed with the connector",
    "telemetry": "posts to Databricks' telemetry service, which does not exist offline",
    "circuit_breaker": "telemetry circuit breaker against Databricks' telemetry service",
    "cloud_fetch or cloudfetch": "needs a store_sales data set uploaded beforehand (the suite skips it itself); the "
    "server's Cloud Fetch links are tested in tests/test_local_surface.py",
    "retry": "HTTP retry mixins that patch urllib3 internals against a remote proxy",
    "large_queries or long_running or query_with_large": "minute-long workloads (run them with -k to see)",
}


# Needs the server on 443 itself: the connector's feature-flag client always dials host:443, so elsewhere its
# connection errors add to the attempts this test counts.
NEEDS_443 = {"test_oserror_retries": "counts connection attempts; the connector's feature-flag client dials host:443"}


def main(argv: list[str]) -> int:
    from dagster_dbload.testing import LocalSQLWarehouseServer

    suite = suite_dir("databricks-sql-python")
    if suite is None:
        return SUITE_MISSING
    port = port_443_or_free()
    not_applicable = NOT_APPLICABLE if port == 443 else {**NOT_APPLICABLE, **NEEDS_443}
    with (
        tempfile.TemporaryDirectory() as folder,
        LocalSQLWarehouseServer(path=os.path.join(folder, "warehouse.duckdb"), port=port, tls=True) as server,
    ):
        with server.warehouse.connect() as connection:  # the volume the suite's workspace holds
            connection.cursor().execute("CREATE VOLUME IF NOT EXISTS main.default.e2etests")
        print(f"serving on port {server.url.rsplit(':', 1)[1]}", flush=True)
        env = {
            **os.environ,
            "DATABRICKS_SERVER_HOSTNAME": "127.0.0.1",
            "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/local",
            "DATABRICKS_TOKEN": server.access_token,
            "DATABRICKS_CATALOG": "main",
            "DATABRICKS_SCHEMA": "default",
            "DATABRICKS_USER": "local",
            "DBLOAD_E2E_PORT": server.url.rsplit(":", 1)[1],
            "SSL_CERT_FILE": server.certificate or "",
            "REQUESTS_CA_BUNDLE": server.certificate or "",
            "PYTHONPATH": os.pathsep.join(
                [suite, os.path.dirname(os.path.abspath(__file__)), os.environ.get("PYTHONPATH", "")]
            ),
        }
        deselect = " and ".join(f"not ({k})" for k in not_applicable)
        if "-k" in argv:  # a selection of the caller's narrows the applicable tests, never widens them
            at = argv.index("-k")
            deselect = f"({deselect}) and ({argv[at + 1]})"
            argv = argv[:at] + argv[at + 2 :]
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:dagster_dbload", "-p", "e2e_thrift_only",
                   "--rootdir", suite, "-o", "addopts=", os.path.join(suite, "tests", "e2e"), "-k", deselect, *argv]  # fmt: skip
        # the suite writes the connector's DEBUG log (gigabytes) to ./tests-unsafe.log: run it in the temp folder
        return subprocess.run(command, cwd=folder, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
