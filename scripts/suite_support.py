"""What the scripts that run other tools' own test suites share: a virtualenv per suite (the releases it was
written for, apart from this project's), and the port to serve the warehouse on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def suite_pytest(name: str, requirements: list[str]) -> str:
    """The pytest of .suites/<name>, a virtualenv with `requirements`, built on first use from the package index
    (delete the folder after changing them)."""
    venv = os.path.join(ROOT, ".suites", name)
    pytest = os.path.join(venv, "bin", "pytest")
    if not os.path.exists(pytest):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q", *requirements], check=True)
    return pytest


def port_443_or_free() -> int:
    """443 where it can be served (clients that build https://host:443, or dial it for the Databricks SDK),
    else 0: a free port, which the plugin e2e_thrift_only.py gives the connector (DBLOAD_E2E_PORT)."""
    try:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds (TIME_WAIT is fine)
            s.bind(("127.0.0.1", 443))
        return 443
    except OSError:
        return 0
