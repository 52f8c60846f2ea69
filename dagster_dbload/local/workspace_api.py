"""The few workspace REST calls Databricks clients make besides SQL, answered by LocalSQLWarehouseServer: the SDK's
host discovery, OAuth machine-to-machine tokens (client credentials of a service principal) and the SQL
warehouses list that default-credential clients (the SDK, dlt) read the HTTP path from."""

from __future__ import annotations

import base64
import hmac
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

HTTP_PATH = "/sql/1.0/warehouses/local"
WAREHOUSE_ID = "local"
Reply = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Workspace:
    url: str  # https://127.0.0.1:port
    access_token: str  # what OAuth hands out too: one token is accepted on every call
    client_id: str
    client_secret: str

    def get(self, path: str, authorization: str | None) -> Reply | None:
        """The answer to a GET of a workspace API path, or None for paths that are not one."""
        if path == "/.well-known/databricks-config":  # host discovery: a plain workspace
            return 200, {"host_type": "workspace", "workspace_id": "0", "oidc_endpoint": f"{self.url}/oidc"}
        if path == "/oidc/.well-known/oauth-authorization-server":
            return 200, {"issuer": f"{self.url}/oidc", "authorization_endpoint": f"{self.url}/oidc/v1/authorize",
                         "token_endpoint": f"{self.url}/oidc/v1/token"}  # fmt: skip
        if not path.startswith("/api/2.0/sql/warehouses"):
            return None
        if authorization != f"Bearer {self.access_token}":
            return 401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."}
        if path.rstrip("/") == "/api/2.0/sql/warehouses":
            return 200, {"warehouses": [self._warehouse()]}
        if path == f"/api/2.0/sql/warehouses/{WAREHOUSE_ID}":
            return 200, self._warehouse()
        warehouse = path.rsplit("/", 1)[1]
        return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Warehouse {warehouse} does not exist. "
                     f"This server's warehouse is {WAREHOUSE_ID!r} ({HTTP_PATH})."}  # fmt: skip

    def token(self, body: bytes, authorization: str | None) -> Reply:
        """POST /oidc/v1/token with grant_type=client_credentials: the client's id and secret in the form or
        as HTTP Basic credentials."""
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "Use grant_type=client_credentials."}
        known = hmac.compare_digest(client_id or "", self.client_id) and hmac.compare_digest(
            client_secret or "", self.client_secret
        )
        if not known:
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed."}
        return 200, {"access_token": self.access_token, "token_type": "Bearer", "expires_in": 3600,
                     "scope": form.get("scope", "all-apis")}  # fmt: skip

    def _warehouse(self) -> dict[str, Any]:
        host, _, port = self.url.removeprefix("https://").removeprefix("http://").partition(":")
        return {"id": WAREHOUSE_ID, "name": "Local SQL warehouse", "state": "RUNNING", "warehouse_type": "PRO",
                "enable_serverless_compute": True, "jdbc_url": "",
                "odbc_params": {"hostname": host, "path": HTTP_PATH, "protocol": self.url.split(":", 1)[0],
                                "port": int(port or 443)}}  # fmt: skip


def encode(reply: Reply) -> tuple[int, bytes]:
    return reply[0], json.dumps(reply[1]).encode()
