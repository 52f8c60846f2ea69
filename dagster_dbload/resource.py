"""DatabricksResource: a Databricks SQL warehouse reached through databricks-sql-connector."""

from __future__ import annotations

import atexit
import contextlib
import logging
import re
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote, urlparse

from pydantic import Field, PrivateAttr

from .naming import TableRef
from .retrying import retrying
from .sql import redact_secrets
from .warehouse import SQLWarehouse


def _is_request_error(error: BaseException | None) -> bool:
    """The connector's error after its retries; it does not say which HTTP status it got."""
    return type(error).__name__ == "RequestError"


def _reachable(url: str, within_seconds: float, timeout: float) -> bool:
    """Whether a TCP connection to `url`'s host opens, trying for up to `within_seconds`."""
    parts = urlparse(url)
    try:
        for attempt in retrying(lambda e: isinstance(e, OSError), within_seconds=within_seconds, first_delay=0.25,
                                max_delay=1.0):  # fmt: skip
            with attempt:
                socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def _http_statuses() -> Iterator[list[int]]:
    """HTTP statuses the connector's retry policy logs on this thread; its errors after retrying drop them."""
    statuses: list[int] = []
    thread = threading.get_ident()
    pattern = re.compile(r"Received status code (\d+)")

    logger = logging.getLogger("databricks.sql.auth.retry")
    level, shown = logger.level, logger.getEffectiveLevel()

    class Watch(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            m = pattern.match(str(record.msg))
            if m and record.thread == thread:
                statuses.append(int(m.group(1)))
            return record.levelno >= shown  # what was shown before stays shown; nothing more

    watch = Watch()
    logger.addFilter(watch)
    logger.setLevel(min(shown, logging.INFO))
    try:
        yield statuses
    finally:
        logger.removeFilter(watch)
        logger.setLevel(level)


class DatabricksConnectionError(ConnectionError):
    """Connecting failed; the message names the setting to check (never a credential)."""


STREAM_DOWNLOADS = 3  # Cloud Fetch links a streamed read downloads ahead of its reader


_OPEN_POOLS: list[list[Any]] = []  # every resource's idle connections, closed when the process ends


@atexit.register
def _close_pools() -> None:
    for idle in _OPEN_POOLS:
        _close_all(idle)


def _close_all(idle: list[Any]) -> None:
    while idle:
        connection = idle.pop()
        with contextlib.suppress(Exception):  # a server already gone: its session is gone with it
            connection.close()


class DatabricksResource(SQLWarehouse):
    """A Databricks SQL warehouse: personal access token, or OAuth M2M for a service principal.

    Set exactly one of `access_token`, or `client_id` + `client_secret`; pass them as `EnvVar`s. The sessions its
    loads and reads use are kept for the next one: a step (or an in-process run) opens one session, and more only
    for statements that run at the same time; they close when Dagster tears the resource down. `connect()` gives
    a connection of the caller's own, closed on exit.
    """

    _idle: list[Any] = PrivateAttr(default_factory=list)
    _pool_lock: Any = PrivateAttr(default_factory=threading.Lock)

    server_hostname: str = Field(description="Workspace host, e.g. dbc-1234.cloud.databricks.com (no https://).")
    http_path: str = Field(description="The warehouse's HTTP path, e.g. /sql/1.0/warehouses/abc123.")
    access_token: str | None = Field(default=None, description="Personal access token.")
    client_id: str | None = Field(default=None, description="Service principal application id (OAuth M2M).")
    client_secret: str | None = Field(default=None, description="Service principal OAuth secret.")
    catalog: str | None = Field(default=None, description="Session default catalog.")
    schema_: str | None = Field(default=None, alias="schema", description="Session default schema.")
    socket_timeout_seconds: float = Field(default=900.0, description="Read timeout of one HTTP request.")
    retry_duration_seconds: float = Field(default=900.0, description="How long to retry 429/503 responses.")
    retry_delay_max_seconds: float = Field(
        default=60.0,
        ge=5,
        le=60,
        description="Upper bound, in seconds, on the connector's wait between retries of a failed request "
        "(its backoff grows up to this; the connector accepts 5 to 60).",
    )
    connection_uri: str | None = Field(
        default=None, description="Advanced: the full http(s) endpoint URI, e.g. of LocalSQLWarehouseServer."
    )
    tls_ca_file: str | None = Field(
        default=None,
        description="Advanced: a PEM file of the certificates to trust for the warehouse's HTTPS instead of the "
        "system's (a TLS-inspecting proxy's, or LocalSQLWarehouseServer's own).",
    )

    def table_url(self, table: TableRef) -> str | None:
        if self.connection_uri:  # not a workspace's own address: no Catalog Explorer to link to
            return None
        path = "/".join(quote(p, safe="") for p in (table.catalog, table.schema, table.table))
        return f"https://{self.server_hostname}/explore/data/{path}"

    def staging_filesystem(self, url: str, connection: Any = None) -> tuple[Any, str] | None:
        if not url.startswith(("/Volumes/", "dbfs:/Volumes/")):
            return None
        from .volumes import VolumeFileSystem

        return VolumeFileSystem(self, connection), url.removeprefix("dbfs:")

    def _auth(self) -> dict[str, Any]:
        token = bool(self.access_token)
        oauth = bool(self.client_id or self.client_secret)
        if token == oauth or (oauth and not (self.client_id and self.client_secret)):
            raise DatabricksConnectionError(
                "DatabricksResource needs exactly one way to sign in: set access_token (a personal access token), "
                "or both client_id and client_secret (OAuth M2M for a service principal)."
            )
        if token:
            return {"access_token": self.access_token}
        client_id, client_secret = self.client_id, self.client_secret
        uri = urlparse(self.connection_uri or "")  # a warehouse reached at another address gives tokens there too
        host = f"{uri.scheme}://{uri.netloc}" if uri.netloc else f"https://{self.server_hostname}"
        retry_seconds, timeout = max(1, int(self.retry_duration_seconds)), min(self.socket_timeout_seconds, 60.0)

        def credentials_provider() -> Any:  # called by the connector when it connects
            from databricks.sdk.core import Config, oauth_service_principal

            if not _reachable(host, retry_seconds, timeout):  # some SDK releases probe the host for 300 s
                raise DatabricksConnectionError(self._unreachable())
            try:
                config = Config(
                    host=host, client_id=client_id, client_secret=client_secret, auth_type="oauth-m2m",
                    retry_timeout_seconds=retry_seconds, http_timeout_seconds=timeout,
                )  # fmt: skip
                if config.oidc_endpoints is None:  # the SDK would go on to fail with "Invalid URL 'None'"
                    raise DatabricksConnectionError(self._unreachable())
                return oauth_service_principal(config)
            except DatabricksConnectionError:
                raise
            except Exception as e:  # noqa: BLE001 - the SDK raises many types; all get the same treatment
                unreachable = "Invalid URL 'None'" in str(e)  # it found no OAuth endpoints at the host
                raise DatabricksConnectionError(self._unreachable() if unreachable else self._explain(e)) from None

        return {"credentials_provider": credentials_provider}

    def dbt_target(self, catalog: str, schema: str, threads: int = 4) -> dict[str, Any]:
        """The dbt-databricks target (a profiles.yml `outputs` entry) for what this resource connects to: the same host,
        HTTP path, credentials (token or OAuth M2M), retries and timeouts."""
        target: dict[str, Any] = {
            "type": "databricks",
            "host": self.server_hostname,
            "http_path": self.http_path,
            "catalog": catalog,
            "schema": schema,
            "threads": threads,
        }
        if self.client_id or self.client_secret:
            target.update(auth_type="oauth", client_id=self.client_id, client_secret=self.client_secret)
        else:
            target["token"] = self.access_token
        parameters: dict[str, Any] = {
            "enable_telemetry": False,
            "_socket_timeout": self.socket_timeout_seconds,
            "_retry_stop_after_attempts_duration": self.retry_duration_seconds,
            "_retry_delay_max": self.retry_delay_max_seconds,
        }
        if self.connection_uri:  # not a workspace: a plain-HTTP `host` keeps its scheme (a bare one is dialled https)
            url = urlparse(self.connection_uri)
            target["host"] = url.netloc if url.scheme == "https" else f"{url.scheme}://{url.netloc}"
            parameters["_connection_uri"] = self.connection_uri
        if self.tls_ca_file:
            parameters["_tls_trusted_ca_file"] = self.tls_ca_file
        target["connection_parameters"] = parameters
        return target

    def connect(self) -> contextlib.AbstractContextManager[Any]:
        """A databricks-sql-connector connection (one session), closed on exit."""
        return self._connection()

    def session(self) -> contextlib.AbstractContextManager[Any]:
        """A connection for the package's own statements, the caller's alone until exit; then kept for the
        resource's next caller (a connection whose requests failed is closed instead)."""
        return self._pooled()

    @contextlib.contextmanager
    def _pooled(self) -> Iterator[Any]:
        with self._pool_lock:
            idle = self._idle.pop() if self._idle else None
            if not any(pool is self._idle for pool in _OPEN_POOLS):
                _OPEN_POOLS.append(self._idle)
        keep = False
        with self._session(idle) as connection:
            try:
                yield connection
                keep = True
            except Exception as e:  # a statement's error leaves the session as it was; a request's may not
                keep = not (_is_request_error(e) or _is_request_error(e.__cause__))
                raise
            finally:
                if keep and connection.open:
                    with self._pool_lock:
                        self._idle.append(connection)
                else:
                    with contextlib.suppress(Exception):
                        connection.close()

    def close(self) -> None:
        """End the sessions this resource keeps."""
        with self._pool_lock:
            _close_all(self._idle)

    def teardown_after_execution(self, context: Any) -> None:
        self.close()

    def streaming_connection(self) -> contextlib.AbstractContextManager[Any]:
        """A connection for a streamed read: Cloud Fetch downloads `STREAM_DOWNLOADS` links ahead of the reader
        (the connector's default, 10, holds up to ten files in memory at once)."""
        return self._connection(max_download_threads=STREAM_DOWNLOADS)

    @contextlib.contextmanager
    def _connection(self, **extra: Any) -> Iterator[Any]:
        """A connection of its own, closed on exit."""
        with self._session(None, **extra) as connection:
            try:
                yield connection
            finally:
                connection.close()

    @contextlib.contextmanager
    def _session(self, existing: Any, **extra: Any) -> Iterator[Any]:
        """`existing`, or a new connection; errors of connecting or of the requests made in the body are
        explained (the setting to check, never a credential). The caller closes it."""
        from databricks import sql as dbsql

        from . import __version__

        options: dict[str, Any] = {
            "server_hostname": self.server_hostname,
            "http_path": self.http_path,
            "user_agent_entry": f"dagster-dbload/{__version__}",
            "enable_telemetry": False,
            "catalog": self.catalog,
            "schema": self.schema_,
            "_socket_timeout": self.socket_timeout_seconds,
            "_retry_stop_after_attempts_duration": self.retry_duration_seconds,
            "_retry_delay_max": self.retry_delay_max_seconds,
            **self._auth(),
            **extra,
        }
        if self.connection_uri:
            options["_connection_uri"] = self.connection_uri
        if self.tls_ca_file:
            options["_tls_trusted_ca_file"] = self.tls_ca_file
        with _http_statuses() as statuses:
            try:
                connection = existing if existing is not None else dbsql.connect(**options)
            except Exception as e:  # noqa: BLE001 - the connector raises many types; all get the same treatment
                raise DatabricksConnectionError(self._explain(e, statuses)) from None
            try:
                yield connection
            except Exception as e:
                if (_is_request_error(e) or _is_request_error(e.__cause__)) and statuses and statuses[-1] >= 500:
                    raise DatabricksConnectionError(f"{e}\n{self._server_error(statuses[-1])}") from e
                raise

    def _server_error(self, status: int) -> str:
        return (
            f"Databricks answered HTTP {status} for {self.server_hostname}{self.http_path} until "
            f"retry_duration_seconds={self.retry_duration_seconds:g} ran out: the workspace or the warehouse has a "
            "problem. Check the warehouse's state in the workspace (and status.databricks.com), or raise "
            "retry_duration_seconds."
        )

    def _unreachable(self) -> str:
        return (
            f"Cannot reach {self.server_hostname!r} (no answer within retry_duration_seconds="
            f"{self.retry_duration_seconds:g}): check server_hostname (the workspace host, no https://) and that "
            "this machine can reach it."
        )

    def _explain(self, error: Exception, statuses: Sequence[int] = ()) -> str:
        """Which setting to check, from the connector's error, without repeating any credential."""
        if isinstance(error, DatabricksConnectionError):
            return str(error)
        text = str(error)
        where = f"{self.server_hostname}{self.http_path}"
        context = getattr(error, "context", None) or {}
        if _is_request_error(error) and not context.get("http-code") and statuses and statuses[-1] >= 500:
            return self._server_error(statuses[-1])
        if "invalid_client" in text:  # the OAuth token endpoint refused the service principal
            return f"Databricks refused the credentials for {where}: check client_id / client_secret."
        if _is_request_error(error) and not context.get("http-code"):
            return (
                f"Cannot reach {self.server_hostname!r} (no HTTP answer): check server_hostname (the workspace host, "
                "no https://) and that this machine can reach it."
            )
        if any(s in text for s in ("401", "403", "Unauthorized", "Forbidden", "Invalid access token", "credential")):
            what = "access_token" if self.access_token else "client_id / client_secret"
            return f"Databricks refused the credentials for {where}: check {what} (and that it is not expired)."
        if "404" in text or "Not Found" in text:
            return f"Databricks has no SQL warehouse at http_path {self.http_path!r} on {self.server_hostname}: check http_path."
        if any(s in text.lower() for s in ("name or service not known", "nodename", "resolve", "connection refused",
                                               "max retries", "failed to establish")):  # fmt: skip
            return f"Cannot reach {self.server_hostname!r}: check server_hostname (the workspace host, no https://)."
        return f"Connecting to Databricks at {where} failed: {type(error).__name__}: {redact_secrets(text, self.access_token, self.client_secret)}"
