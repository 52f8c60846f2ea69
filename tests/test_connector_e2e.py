"""databricks-sql-connector's own e2e suite, unmodified, against LocalSQLWarehouseServer (its quick part:
parameters, complex and VARIANT types, transactions, decimals and timestamps; scripts/connector_e2e.py runs
all of it)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _port_443_free() -> bool:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 443))
        return True
    except OSError:
        return False


@pytest.mark.skipif(os.geteuid() != 0, reason="the connector's suite builds https://host:443; serving 443 needs root")
@pytest.mark.skipif(not _port_443_free(), reason="127.0.0.1:443 is in use")
def test_connector_e2e_suite_passes_unmodified():
    selection = "parameterized or complex or variant or transactions or decimal or timestamp"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "connector_e2e.py"), "-k", selection,
         "-W", "ignore::pytest.PytestUnknownMarkWarning"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-2000:]
    assert result.returncode == 0, result.stdout[-6000:]
    assert " passed" in summary and "failed" not in summary, summary
