"""Suites that run as processes of their own (the connector's e2e suite, the dbt project) start as soon as
collection ends and run beside the other tests; their tests wait for them. Most of their time is spent waiting on
a subprocess, so on 2 cores this hides most of it."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from typing import IO

import pytest


@dataclass
class Job:
    process: subprocess.Popen
    output: IO[str]

    def wait(self, timeout: float) -> subprocess.CompletedProcess:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.output.seek(0)
        text = self.output.read()
        self.output.close()
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, text, "")


_jobs: dict[str, Job] = {}


def _command(item: pytest.Item) -> list[str] | None:
    marker = item.get_closest_marker("background")
    return list(marker.args[0]) if marker else None


def start(item: pytest.Item, early: bool = False) -> None:
    command = _command(item)
    if command is None or item.nodeid in _jobs:
        return
    if early and os.environ.get("PYTEST_XDIST_WORKER"):  # every worker collects every test; only one runs it
        return
    if any(m.args and m.args[0] is True for m in item.iter_markers("skipif")):
        return
    output = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by Job.wait; a file, not a pipe, never blocks
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True)
    _jobs[item.nodeid] = Job(process, output)


def result(item: pytest.Item, timeout: float = 900) -> subprocess.CompletedProcess:
    """The finished process of `item`'s `background` marker (started now if collection did not)."""
    start(item)
    return _jobs.pop(item.nodeid).wait(timeout)
