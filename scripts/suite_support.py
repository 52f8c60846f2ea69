"""What the scripts that run other tools' own test suites share: where the suite's files are (never in this
repository), a virtualenv per suite (the releases it was written for, apart from this project's), and the port to
serve the warehouse on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Each suite as its project publishes it, pinned: (project, commit, what of it the runner needs)
SUITES = {
    "databricks-sql-python": (
        "https://github.com/databricks/databricks-sql-python",
        "e550cb7218d85e78a69d0617f60189428cc90dd8",
        "tests/e2e/, tests/__init__.py and conftest.py",
    ),
    "databricks-sqlalchemy": (
        "https://github.com/databricks/databricks-sqlalchemy",
        "106e087cd619232f0d3e1f29e563e0780ca9fe4f",
        "tests/test/ as test/, and src/databricks/sqlalchemy/setup.cfg as test/setup.cfg",
    ),
    "dlt": (
        "https://github.com/dlt-hub/dlt",
        "b3fc4a9e7c4152a76c6d29d035ddf9879609dc50",
        "tests/ (the load tests, their helpers, conftests and cases) and pyproject.toml",
    ),
}

# The exit code of a runner whose suite is not on this machine: pytest's "no tests ran"
SUITE_MISSING = 5


def shared_dir(name: str) -> str | None:
    """shared/<name> beside the checkout, or beside the local checkout it was cloned from (a fresh clone in a
    temporary folder); None when neither exists."""
    for checkout in [ROOT, _cloned_from()]:
        if checkout and os.path.isdir(os.path.join(os.path.dirname(checkout), "shared", name)):
            return os.path.join(os.path.dirname(checkout), "shared", name)
    return None


def suite_dir(name: str) -> str | None:
    """The folder holding suite `name`: $DBLOAD_SUITES/<name>, else shared/suites/<name> beside the checkout (or
    beside the local checkout it was cloned from). None, after saying on stderr what to fetch and where to put it,
    when none exists."""
    if os.environ.get("DBLOAD_SUITES"):
        place = os.path.join(os.environ["DBLOAD_SUITES"], name)
        if os.path.isdir(place):
            return place
    shared = shared_dir(os.path.join("suites", name))
    if shared:
        return shared
    places = [os.path.join(os.environ.get("DBLOAD_SUITES", "$DBLOAD_SUITES"), name), f"shared/suites/{name}"]
    project, commit, what = SUITES[name]
    print(
        f"SKIPPED: the {name} suite is not on this machine (looked in {' and '.join(places)} beside the checkout). "
        f"Fetch {what} of "
        f"{project} at commit {commit}, unmodified, into $DBLOAD_SUITES/{name}.",
        file=sys.stderr,
        flush=True,
    )
    return None


def _cloned_from() -> str | None:
    """The local folder this checkout was cloned from, if it was (a fresh clone in a temporary folder)."""
    found = subprocess.run(["git", "-C", ROOT, "remote", "get-url", "origin"], capture_output=True, text=True)
    origin = found.stdout.strip().removeprefix("file://")
    return os.path.abspath(origin) if found.returncode == 0 and os.path.isdir(origin) else None


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
