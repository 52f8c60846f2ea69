"""Where the IO manager suites run: the local engine directly, or the wire server with each staging kind."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pytest

from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse
from dagster_dbload.local.errors import LocalSQLError
from dagster_dbload.testing import LocalSQLWarehouseServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AZURITE = os.path.join(ROOT, ".tools", "node_modules", ".bin", "azurite-blob")
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
S3_SECRET = "s3-secret-7f3a9c0e1d"  # moto accepts any; distinctive so tests can look for leaks
TOKEN = "dapi-test-4b1d8e2f9a"
NAMES = ["local", "server", "s3", "azure", "volume"]


def sql_blocks(markdown: str) -> list[str]:
    """The statements of `dbload/sql`: its fenced sql blocks, whitespace collapsed to single spaces."""
    return [" ".join(block.split()) for block in re.findall(r"```sql\n(.*?)\n```", markdown, re.S)]


def load_statements(result: Any) -> list[str]:
    """The statements a run's materializations sent besides CREATE (assets stored elsewhere have none)."""
    return [
        s
        for m in result.get_asset_materialization_events()
        if "dbload/sql" in m.materialization.metadata
        for s in sql_blocks(m.materialization.metadata["dbload/sql"].value)
        if not s.startswith("CREATE")
    ]


_FAULTS: dict[str, list[tuple[re.Pattern, str]]] = {}  # warehouse path -> pending faults (embedded warehouse)


class FlakyLocalWarehouse(LocalSQLWarehouse):
    """The embedded warehouse with LocalSQLWarehouseServer's statement faults: a statement fails with an
    error class before running, or runs and then loses its answer."""

    @contextlib.contextmanager
    def connect(self):
        with super().connect() as connection:
            run = connection.execute

            def execute(operation, parameters=None, *more, **options):
                fault = _take_fault(self.path, operation)
                if fault is not None and fault != "lose":
                    raise LocalSQLError(fault, "Injected failure: a concurrent update won. Try again.", "2D521")
                result = run(operation, parameters, *more, **options)
                if fault == "lose":
                    raise ConnectionResetError("Connection reset by peer (injected after the statement ran)")
                _kill_if_marked(operation)
                return result

            connection.execute = execute
            yield connection


def kill_after(marker: str, match: str) -> None:
    """The next statement matching `match` in any process (e.g. a step's, under the multiprocess executor) runs,
    then SIGKILLs its process: the marker file holds the pattern and goes once it fired."""
    with open(marker, "w") as f:
        f.write(match)
    os.environ["DBLOAD_TEST_KILL_AFTER"] = marker


def _kill_if_marked(statement: str) -> None:
    marker = os.environ.get("DBLOAD_TEST_KILL_AFTER")
    if not marker or not os.path.exists(marker):
        return
    with open(marker) as f:
        pattern = f.read()
    if re.search(pattern, statement):
        os.unlink(marker)
        os.kill(os.getpid(), signal.SIGKILL)


def statement_runner(connection: Any):
    """execute(statement) -> the rows as tuples (none for a statement without a result), on one cursor."""
    cursor = connection.cursor()

    def execute(statement: str) -> list[tuple]:
        cursor.execute(statement)
        return [tuple(r) for r in cursor.fetchall()] if cursor.description else []

    return execute


def server_resource_from_env(prefix: str, retry_duration_seconds: float) -> Any:
    """A DatabricksResource for LocalSQLWarehouseServer whose path, token and URI are the environment variables
    `<prefix>_HTTP_PATH`, `_TOKEN` and `_URI`, resolved when a run starts (for reconstructable jobs)."""
    from dagster import EnvVar

    from dagster_dbload import DatabricksResource

    return DatabricksResource(
        server_hostname="127.0.0.1",
        http_path=EnvVar(f"{prefix}_HTTP_PATH"),
        access_token=EnvVar(f"{prefix}_TOKEN"),
        connection_uri=EnvVar(f"{prefix}_URI"),
        retry_duration_seconds=retry_duration_seconds,
        retry_delay_max_seconds=5.0,
    )


def warehouse_env(target: Any) -> dict[str, str]:
    """The environment that tells a reconstructed job (or a step in another process) where the backend's
    warehouse and staging are: DBLOAD_TEST_WAREHOUSE for the embedded one, else the server's endpoint."""
    env = {"DBLOAD_TEST_STAGING_URL": target.staging_url}
    if target.server is None:
        return env | {"DBLOAD_TEST_WAREHOUSE": target.warehouse.path}
    resource = target.warehouse
    return env | {"DBLOAD_TEST_HTTP_PATH": resource.http_path, "DBLOAD_TEST_TOKEN": resource.access_token,
                  "DBLOAD_TEST_URI": resource.connection_uri}  # fmt: skip


@contextlib.contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """Environment variables set for the block, and put back after it."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _take_fault(path: str, statement: str) -> str | None:
    pending = _FAULTS.get(path, [])
    for i, (pattern, fault) in enumerate(pending):
        if pattern.search(statement):
            del pending[i]
            return fault
    return None


@dataclass
class Backend:
    """A warehouse plus the IO manager settings that stage where it can read."""

    name: str
    warehouse: Any
    staging_url: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    server: LocalSQLWarehouseServer | None = None
    secrets: list[str] = field(default_factory=list)

    def io_manager(self, cls: type[DatabricksIOManager] = DatabricksIOManager, **overrides: Any) -> DatabricksIOManager:
        options = {
            "warehouse": self.warehouse,
            "staging_url": self.staging_url,
            "staging_storage_options": self.storage_options,
            "create_volume": self.name == "volume",
        }
        return cls(**{**options, **overrides})

    def fail_next_statement(self, error_class: str, times: int = 1, match: str | None = None) -> None:
        if self.server is not None:
            return self.server.fail_next_statement(error_class, times, match)
        _FAULTS.setdefault(self.warehouse.path, []).extend([(re.compile(match or ""), error_class)] * times)

    def lose_next_answer(self, match: str, times: int = 1) -> None:
        if self.server is not None:
            return self.server.lose_next_answer(match, times)
        _FAULTS.setdefault(self.warehouse.path, []).extend([(re.compile(match), "lose")] * times)

    def clear_faults(self) -> None:
        if self.server is not None:
            self.server._statement_faults.clear()
        _FAULTS.pop(self.warehouse.path if self.server is None else "", None)

    def pending_faults(self) -> int:
        return (
            len(self.server._statement_faults) if self.server is not None else len(_FAULTS.get(self.warehouse.path, []))
        )

    def query(self, statement: str) -> list[dict]:
        with self.warehouse.connect() as connection:
            cursor = connection.cursor()
            cursor.execute(statement)
            return cursor.fetchall_arrow().to_pylist()

    def staged_files(self) -> list[str]:
        """Every file left under the staging root."""
        if self.name == "volume":
            local = self.server.warehouse.staging_filesystem(self.staging_url)[1]
            return [os.path.join(d, f) for d, _, files in os.walk(local) for f in files]
        fs, path = fsspec.core.url_to_fs(self.staging_url, **self.storage_options)
        return fs.find(path) if fs.exists(path) else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {seconds}s")


@contextlib.contextmanager
def moto_s3() -> Iterator[dict[str, Any]]:
    """moto's S3 server on 127.0.0.1; yields s3fs options."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield {
            "endpoint_url": f"http://{host}:{port}",
            "key": "AKIADBLOADTEST",
            "secret": S3_SECRET,
            "client_kwargs": {"region_name": "us-east-1"},
        }
    finally:
        server.stop()


@contextlib.contextmanager
def azurite() -> Iterator[dict[str, Any]]:
    """Azurite's blob service on 127.0.0.1; yields adlfs options."""
    if not os.path.exists(AZURITE):
        pytest.fail(f"Azurite is not installed at {AZURITE}: run ./scripts/test, which installs it with npm.")
    port = _free_port()
    folder = tempfile.mkdtemp(prefix="azurite-")
    log = open(os.path.join(folder, "azurite.log"), "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [AZURITE, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", folder,
         "--skipApiVersionCheck", "--loose", "--silent"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for_port(port, proc)
        yield {
            "connection_string": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        }
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def backend(name: str, tmp_path, s3_options=None, azure_options=None, flaky: bool = False) -> Iterator[Backend]:
    """`flaky`: the embedded warehouse takes injected statement faults too (the server always does)."""
    path = str(tmp_path / "wh" / "warehouse.duckdb")
    if name == "local":
        warehouse = (FlakyLocalWarehouse if flaky else LocalSQLWarehouse)(path=path)
        yield Backend(name, warehouse, str(tmp_path / "wh" / "staging"))
        return
    unique = uuid.uuid4().hex[:12]
    storage: dict[str, Any] = {}
    secrets = [TOKEN]
    if name == "s3":
        import boto3

        boto3.client(
            "s3", endpoint_url=s3_options["endpoint_url"], region_name="us-east-1",
            aws_access_key_id=s3_options["key"], aws_secret_access_key=S3_SECRET,
        ).create_bucket(Bucket=f"b-{unique}")  # fmt: skip
        url, storage, secrets = f"s3://b-{unique}/staging", s3_options, [TOKEN, S3_SECRET]
        warehouse_options = {"storage_options": {"s3": s3_options}}
    elif name == "azure":
        fs = fsspec.filesystem("az", **azure_options)
        fs.mkdir(f"c-{unique}")
        url, storage, secrets = f"az://c-{unique}/staging", azure_options, [TOKEN, AZURITE_KEY]
        warehouse_options = {"storage_options": {"az": azure_options}}
    elif name == "volume":
        url, warehouse_options = "/Volumes/main/default/dbload_staging/runs", {}
    else:
        url, warehouse_options = str(tmp_path / "staging"), {}
    with LocalSQLWarehouseServer(path=path, access_token=TOKEN, **warehouse_options) as server:
        yield Backend(name, server.resource(), url, storage, server, secrets)
