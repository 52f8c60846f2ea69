"""The local warehouse behind databricks-sql-connector's wire protocol: Thrift TCLIService over HTTP."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import pyarrow as pa
from databricks.sql.thrift_api.TCLIService import TCLIService
from thrift.protocol import TBinaryProtocol
from thrift.transport import TTransport

from .context import USER
from .dbapi import LocalConnection
from .errors import LocalSQLError
from .files import FileResolver
from .service import Service
from .tls import self_signed_context
from .warehouse import LocalSQLWarehouse
from .workspace_api import HTTP_PATH, Workspace, encode

_PUT = re.compile(r"\s*PUT\s+'((?:[^'\\]|\\.)*)'\s+INTO\s+'((?:[^'\\]|\\.)*)'(\s+OVERWRITE)?\s*;?\s*$", re.I | re.S)
_GET = re.compile(r"\s*GET\s+'((?:[^'\\]|\\.)*)'\s+TO\s+'((?:[^'\\]|\\.)*)'\s*;?\s*$", re.I | re.S)
_REMOVE = re.compile(r"\s*REMOVE\s+'((?:[^'\\]|\\.)*)'\s*;?\s*$", re.I | re.S)

_answer = threading.local()  # set while handling a request whose answer is to be lost
_CONFLICTS = {
    "DELTA_CONCURRENT_APPEND": ("ConcurrentAppendException: Files were added to the root of the table by a "
                                "concurrent update. Please try the operation again.", "2D521"),
    "DELTA_CONCURRENT_DELETE_READ": ("ConcurrentDeleteReadException: This transaction attempted to read one or "
                                     "more files that were deleted by a concurrent update. Please try the "
                                     "operation again.", "2D521"),
    "DELTA_CONCURRENT_DELETE_DELETE": ("ConcurrentDeleteDeleteException: This transaction attempted to delete one "
                                       "or more files that were deleted by a concurrent update. Please try the "
                                       "operation again.", "2D521"),
    "DELTA_METADATA_CHANGED": ("MetadataChangedException: The metadata of the Delta table has been changed by a "
                               "concurrent update. Please try the operation again.", "2D521"),
    "DELTA_PROTOCOL_CHANGED": ("ProtocolChangedException: The protocol version of the Delta table has been "
                               "changed by a concurrent update. Please try the operation again.", "2D521"),
}  # fmt: skip


def _thrift_method(body: bytes) -> str:
    """The method a Thrift binary-protocol message calls (its header: version and type, name length, name)."""
    size = struct.unpack(">i", body[4:8])[0] if len(body) >= 8 else 0
    return body[8 : 8 + size].decode("ascii", "replace") if 0 < size < 64 else "?"


class LocalSQLWarehouseServer:
    """The local SQL warehouse served over databricks-sql-connector's real protocol, on 127.0.0.1.

    Use it as a context manager; `.resource()` gives a DatabricksResource that reaches it through the
    unmodified connector. `.statements` lists the SQL received; `.fail_next(status, times, retry_after)`
    makes the next HTTP requests fail (429/503) to exercise the connector's retries;
    `.fail_next_statement(error_class, times, match)` fails statements with a Databricks error class (e.g.
    the DELTA_CONCURRENT_* write conflicts); `.lose_next_answer(match)` runs a statement and drops the
    connection before answering. Volume `PUT`, `GET` and `REMOVE` work through presigned URLs it also serves.
    `.calls` counts what a workspace would charge: each Thrift call by method, and other HTTP requests by verb;
    `latency_ms` delays every answer, as a workspace that far away would.
    """

    def __init__(self, path: str, access_token: str = "dapi-local-test-token", port: int = 0, tls: bool = False,
                 client_id: str = "local-service-principal", client_secret: str = "local-oauth-secret",
                 latency_ms: float = 0, **warehouse_options: Any):  # fmt: skip
        self.warehouse = LocalSQLWarehouse(path=path, **warehouse_options)
        self.port, self.tls = port, tls
        self.certificate: str | None = None  # with tls: the self-signed certificate clients should trust
        self.access_token = access_token
        self.client_id, self.client_secret = client_id, client_secret  # OAuth M2M: exchanged for access_token
        self.statements: list[str] = []
        self._faults: list[tuple[int, float | None]] = []
        self._statement_faults: list[tuple[re.Pattern, LocalSQLError | str]] = []
        self._fault_lock = threading.Lock()
        self._signatures: dict[str, tuple[str, str]] = {}  # signature -> (method, local path)
        self._results: dict[str, Callable[[], bytes]] = {}  # Cloud Fetch token -> the file's bytes, made on GET
        self.result_files_served = 0
        self.latency_ms = latency_ms
        self.calls: collections.Counter[str] = collections.Counter()
        self._calls_lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._http is not None, "start the server first (use it as a context manager)"
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._http.server_address[1]}"

    @property
    def workspace(self) -> Workspace:
        """The workspace REST calls it answers (OAuth tokens, the SQL warehouses list)."""
        return Workspace(self.url, self.access_token, self.client_id, self.client_secret)

    def resource(self, **overrides: Any):
        from ..resource import DatabricksResource

        options = {
            "server_hostname": "127.0.0.1",
            "http_path": HTTP_PATH,
            "access_token": self.access_token,
            "connection_uri": self.url + HTTP_PATH,
            "tls_ca_file": self.certificate,  # with tls: its self-signed certificate
            "retry_duration_seconds": 60.0,
            "retry_delay_max_seconds": 5.0,
        }
        return DatabricksResource(**{**options, **overrides})

    def dbt_target(self, catalog: str = "main", schema: str = "default", threads: int = 1) -> dict[str, Any]:
        """A dbt-databricks target (a profiles.yml `outputs` entry) for this server."""
        return self.resource().dbt_target(catalog, schema, threads)

    def fail_next(self, status: int = 503, times: int = 1, retry_after: float | None = 1) -> None:
        """The next `times` Thrift requests get `status` (with a Retry-After header unless None)."""
        self._faults.extend([(status, retry_after)] * times)

    def fail_next_statement(
        self, error_class: str = "DELTA_CONCURRENT_APPEND", times: int = 1, match: str | None = None
    ) -> None:
        """The next `times` statements (those matching the regex `match`, when given) fail with Databricks'
        `error_class` without running, e.g. the write conflicts a concurrent writer causes."""
        message, sqlstate = _CONFLICTS.get(error_class, ("Injected failure.", "XX000"))
        error = LocalSQLError(error_class, message, sqlstate)
        with self._fault_lock:
            self._statement_faults.extend([(re.compile(match or ""), error)] * times)

    def lose_next_answer(self, match: str, times: int = 1) -> None:
        """The next `times` statements matching the regex `match` run (and commit), then the connection drops
        before the answer is sent, as when a network path fails mid-request."""
        with self._fault_lock:
            self._statement_faults.extend([(re.compile(match), "lose")] * times)

    def statement_fault(self, statement: str) -> LocalSQLError | str | None:
        with self._fault_lock:
            for i, (pattern, fault) in enumerate(self._statement_faults):
                if pattern.search(statement):
                    del self._statement_faults[i]
                    return fault
        return None

    def open_connection(self) -> contextlib.AbstractContextManager[LocalConnection]:
        return self.warehouse.connect()

    @staticmethod
    def lose_answer() -> None:
        """Drop the connection of the request being handled once the statement has run."""
        _answer.lost = True

    def __enter__(self) -> LocalSQLWarehouseServer:
        service = Service(self)
        processor = TCLIService.Processor(service)
        factory = TBinaryProtocol.TBinaryProtocolAcceleratedFactory()  # the C codec: results are large
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stalls

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes | pa.Buffer = b"", headers: dict[str, str] | None = None) -> None:
                if server.latency_ms:
                    time.sleep(server.latency_ms / 1000)
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(memoryview(body).nbytes))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _workspace(self, reply: tuple[int, dict] | None) -> bool:
                if reply is not None:
                    status, body = encode(reply)
                    self._reply(status, body, {"Content-Type": "application/json"})
                return reply is not None

            def do_POST(self) -> None:
                body = self._body()
                if urlparse(self.path).path == "/oidc/v1/token":
                    self._workspace(server.workspace.token(body, self.headers.get("Authorization")))
                    return
                if urlparse(self.path).path != HTTP_PATH:
                    return self._reply(404, b"no such warehouse", {"x-databricks-reason-phrase": "Not Found"})
                if self.headers.get("Authorization") != f"Bearer {server.access_token}":
                    return self._reply(401, b"", {"x-databricks-reason-phrase": "Invalid access token"})
                if server._faults:
                    status, retry_after = server._faults.pop(0)
                    headers = {"x-databricks-reason-phrase": "injected fault"}
                    if retry_after is not None:
                        headers["Retry-After"] = str(int(retry_after))
                    return self._reply(status, b"", headers)
                server.count(_thrift_method(body))
                out = TTransport.TMemoryBuffer()
                _answer.lost = False
                processor.process(factory.getProtocol(TTransport.TMemoryBuffer(body)), factory.getProtocol(out))
                if _answer.lost:  # the statement ran; the client never hears of it
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._reply(200, out.getvalue(), {"Content-Type": "application/x-thrift"})

            def _volume_file(self, method: str) -> str | None:
                url = urlparse(self.path)
                signature = parse_qs(url.query).get("sig", [""])[0]
                expected = server._signatures.pop(signature, None)
                if expected is None or expected[0] != method:
                    return None
                return expected[1]

            def do_PUT(self) -> None:
                server.count("HTTP PUT")
                body = self._body()
                target = self._volume_file("PUT")
                if target is None:
                    return self._reply(403, b"bad signature")
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as fh:
                    fh.write(body)
                self._reply(201)

            def do_GET(self) -> None:
                server.count("HTTP GET")
                if self._workspace(server.workspace.get(urlparse(self.path).path, self.headers.get("Authorization"))):
                    return
                if self.path.startswith("/__result__/"):  # a Cloud Fetch link: served once, like a presigned URL
                    produce = server._results.pop(self.path.removeprefix("/__result__/"), None)
                    if produce is None:
                        return self._reply(404)
                    server.result_files_served += 1
                    return self._reply(200, produce())
                target = self._volume_file("GET")
                if target is None or not os.path.isfile(target):
                    return self._reply(404)
                with open(target, "rb") as fh:
                    self._reply(200, fh.read())

            def do_DELETE(self) -> None:
                server.count("HTTP DELETE")
                target = self._volume_file("DELETE")
                if target is None:
                    return self._reply(403, b"bad signature")
                if os.path.isdir(target):
                    shutil.rmtree(target)
                elif os.path.exists(target):
                    os.remove(target)
                self._reply(204)

        self._http = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._http.daemon_threads = True
        if self.tls:
            context, self.certificate = self_signed_context(os.path.join(self.warehouse.root, "tls"))
            self._http.socket = context.wrap_socket(self._http.socket, server_side=True)
        self._service = service
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def count(self, what: str) -> None:
        with self._calls_lock:
            self.calls[what] += 1

    def __exit__(self, *exc: object) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        self._service.close_all()

    # volume staging operations answered with a presigned URL the connector then calls
    def _presign(self, method: str, local: str) -> str:
        signature = secrets.token_urlsafe(16)
        self._signatures[signature] = (method, local)
        return f"{self.url}/__volume__/{quote(os.path.basename(local))}?sig={signature}"

    def result_link(self, produce: Callable[[], pa.Buffer]) -> str:
        """A one-time URL serving `produce()`: a Cloud Fetch result file."""
        token = secrets.token_urlsafe(24)
        self._results[token] = produce
        return f"{self.url}/__result__/{token}"

    def _staging_path(self, remote: str) -> str:
        """The local file behind a staging operation's remote path: a UC Volume path, or the legacy
        `stage://tmp/<user>/...` area, where only the connection's own user may go."""
        if remote.startswith(("/Volumes/", "dbfs:/Volumes/")):
            try:
                return FileResolver(self.warehouse.volumes_root).resolve(remote)[1]
            except LocalSQLError:  # no such volume: Databricks names a missing catalog first
                catalog = remote.split("/Volumes/", 1)[1].split("/", 1)[0].lower()
                with self.warehouse.connect() as connection:
                    cursor = connection.cursor()
                    cursor.execute("SHOW CATALOGS")
                    if catalog not in [r[0] for r in cursor.fetchall()]:
                        raise LocalSQLError("NO_SUCH_CATALOG_EXCEPTION", f"NOT_FOUND: Catalog '{catalog}' does not exist.", "42704") from None  # fmt: skip
                raise
        m = re.fullmatch(r"stage://tmp/([^/]+)/(.+)", remote)
        if not m:
            raise LocalSQLError("INVALID_STAGING_PATH_IN_STAGING_ACCESS_QUERY", f"Invalid staging path: '{remote}'. Use a UC Volume path (/Volumes/<catalog>/<schema>/<volume>/...) or stage://tmp/<user>/....", "42000")  # fmt: skip
        if m.group(1) != USER:
            raise LocalSQLError("PERMISSION_DENIED", f"User {USER!r} cannot access the staging area of {m.group(1)!r}.", "42501")  # fmt: skip
        return os.path.join(self.warehouse.root, "stage", USER, *m.group(2).split("/"))

    def staging(self, statement: str) -> pa.Table | None:
        """The one-row result of a PUT/GET/REMOVE (a presigned URL the client then calls), or None for other
        statements. GET of a missing file answers too: its URL then answers HTTP 404, as on Databricks."""
        for pattern, operation in ((_PUT, "PUT"), (_GET, "GET"), (_REMOVE, "REMOVE")):
            m = pattern.match(statement)
            if not m:
                continue
            remote, local_file = (m.group(2), m.group(1)) if operation == "PUT" else (m.group(1), m.group(2) if operation == "GET" else None)  # fmt: skip
            if operation != "REMOVE" and not local_file:
                raise LocalSQLError("EMPTY_LOCAL_FILE_IN_STAGING_ACCESS_QUERY", f"{operation} needs a local file.", "42000")  # fmt: skip
            target = self._staging_path(remote)
            if operation == "PUT" and os.path.exists(target) and not m.group(3):
                raise LocalSQLError("FILE_IN_STAGING_PATH_ALREADY_EXISTS", f"{remote} already exists; add OVERWRITE to replace it.", "42000")  # fmt: skip
            url = self._presign({"PUT": "PUT", "GET": "GET", "REMOVE": "DELETE"}[operation], target)
            return pa.table(
                {
                    "operation": [operation],
                    "presignedUrl": [url],
                    "localFile": pa.array([local_file], pa.string()),
                    "headers": [json.dumps({})],
                }
            )
        return None
