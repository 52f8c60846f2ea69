"""DatabricksResource: a Databricks SQL warehouse reached through databricks-sql-connector."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from pydantic import Field

from .sql import redact_secrets
from .warehouse import SQLWarehouse


class DatabricksConnectionError(ConnectionError):
    """Connecting failed; the message names the setting to check (never a credential)."""


class DatabricksResource(SQLWarehouse):
    """A Databricks SQL warehouse: personal access token, or OAuth M2M for a service principal.

    Set exactly one of `access_token`, or `client_id` + `client_secret`; pass them as `EnvVar`s.
    """

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
        default=60.0, ge=5, description="Longest wait between retries (the connector waits at least this long)."
    )
    connection_uri: str | None = Field(
        default=None, description="Advanced: the full http(s) endpoint URI, e.g. of LocalSQLWarehouseServer."
    )

    def staging_filesystem(self, url: str) -> tuple[Any, str] | None:
        if not url.startswith(("/Volumes/", "dbfs:/Volumes/")):
            return None
        from .volumes import VolumeFileSystem

        return VolumeFileSystem(self), url.removeprefix("dbfs:")

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
        host, client_id, client_secret = f"https://{self.server_hostname}", self.client_id, self.client_secret

        def credentials_provider() -> Any:  # called by the connector when it connects
            from databricks.sdk.core import Config, oauth_service_principal

            return oauth_service_principal(Config(host=host, client_id=client_id, client_secret=client_secret))

        return {"credentials_provider": credentials_provider}

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        """A databricks-sql-connector connection, closed on exit."""
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
        }
        if self.connection_uri:
            options["_connection_uri"] = self.connection_uri
        try:
            connection = dbsql.connect(**options)
        except Exception as e:  # noqa: BLE001 - the connector raises many types; all get the same treatment
            raise DatabricksConnectionError(self._explain(e)) from None
        try:
            yield connection
        finally:
            connection.close()

    def _explain(self, error: Exception) -> str:
        """Which setting to check, from the connector's error, without repeating any credential."""
        text = str(error)
        where = f"{self.server_hostname}{self.http_path}"
        context = getattr(error, "context", None) or {}
        if type(error).__name__ == "RequestError" and not context.get("http-code"):
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
