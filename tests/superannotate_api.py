"""A local stand-in for SuperAnnotate's HTTP services, for driving the real `superannotate` SDK offline.

The SDK's hosts are hard-coded (https://<service>.superannotate.com), so `route_sdk_to(server)` rewrites
those URLs to this server at the SDK's two HTTP clients (requests' adapter and aiohttp's session).
Payloads follow the SDK's own test data (multimodal `llmJsonV2` annotations, entity shapes from
`lib/core/entities`). `fail_next(status, n)` makes the next n requests answer with that status.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TEAM_ID = 7
PROJECT_ID = 11
WORKFLOW_ID = 55
STATUSES = ["NotStarted", "InProgress", "QualityCheck", "Returned", "Completed", "Skipped"]
_HOST = re.compile(r"^https://([a-z-]+)\.superannotate\.com/")


class FakeSuperAnnotate:
    """Serves one multimodal project: folders, items with workflow statuses, and their annotations."""

    def __init__(self, project: str, token: str, statuses: list[str] | None = None) -> None:
        self.project = project
        self.token = token
        self.statuses = statuses or STATUSES  # the project's workflow (a custom one has its own names)
        self.folders: dict[str, int] = {"root": 100}
        self.items: dict[int, dict] = {}  # id -> {"metadata": {...}, "data": {...}}
        self.default_format: dict[int, int] = {}  # id -> answers in the default format (the large-item path)
        self.requests: list[tuple[str, str]] = []
        self._failures: list[tuple[int, str, float | None]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def add_item(self, item: dict) -> None:
        """Add or replace an item given in the export-folder shape ({"metadata": ..., "data": ...})."""
        folder = item["metadata"].get("folder_name") or "root"
        self.folders.setdefault(folder, 100 + len(self.folders))
        self.items[int(item["metadata"]["id"])] = item

    def fail_next(self, status: int, times: int = 1, path: str = "", retry_after: float | None = None) -> None:
        """Answer the next `times` requests whose path contains `path` with `status` (and a Retry-After header)."""
        with self._lock:
            self._failures.extend([(status, path, retry_after)] * times)

    def start(self) -> FakeSuperAnnotate:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def rewrite(self, url: object) -> str:
        return _HOST.sub(lambda m: f"{self.url}/{m.group(1)}/", str(url))

    # --- request handling -------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict, headers: dict, body: bytes) -> tuple[int, object]:
        self.requests.append((method, path))
        with self._lock:
            for i, (status, where, retry_after) in enumerate(self._failures):
                if where in path:
                    del self._failures[i]
                    error = {"error": "Too many requests" if status == 429 else "Internal error"}
                    return status, error, ({"Retry-After": str(retry_after)} if retry_after is not None else {})
        if headers.get("authorization") != self.token:
            return 401, {"error": "Not authorized"}
        context = json.loads(base64.b64decode(headers.get("x-sa-entity-context", "e30="))) or {}
        payload = json.loads(body) if body else {}
        for pattern, handler in self._routes():
            match = re.fullmatch(pattern, f"{method} {path}")
            if match:
                return 200, handler(query=query, context=context, payload=payload, **match.groupdict())
        return 404, {"error": f"no route for {method} {path}"}

    def _routes(self):
        return [
            (r"POST /work-management-api/api/v1/users/me", self._me),
            (r"GET /api/api/v1/team/(?P<team>\d+)", self._team),
            (r"GET /api/api/v1/projects", self._projects),
            (r"POST /work-management-api/api/v1/folders/search", self._folder_search),
            (r"GET /api/folder/getFolderByName", self._folder_by_name),
            (rf"GET /work-management-api/api/v1/workflows/{WORKFLOW_ID}/workflowstatuses", self._statuses),
            (r"POST /item/api/v1/items/search", self._item_search),
            (r"POST /assets-provider/api/v4/items/annotations/download/method", self._classify),
            (r"POST /assets-provider/api/v4/items/annotations/download", self._download),
        ]

    def _me(self, **_):
        return {
            "token": {"scope_type": "team", "scope": {"team_id": TEAM_ID}},
            "user": {"id": "u1", "email": "qa@example.com"},
        }

    def _team(self, team, **_):
        return {"id": int(team), "name": "Annotation team"}

    def _project(self) -> dict:
        stamp = "2024-01-01T00:00:00.000Z"
        return {"id": PROJECT_ID, "team_id": TEAM_ID, "name": self.project, "type": 8, "status": 2,
                "workflow_id": WORKFLOW_ID, "createdAt": stamp, "updatedAt": stamp}  # fmt: skip

    def _projects(self, query, **_):
        found = [self._project()] if query.get("name", [self.project])[0] == self.project else []
        return {"data": found, "count": len(found)}

    def _folder(self, name: str) -> dict:
        return {"id": self.folders[name], "name": name, "is_root": name == "root", "project_id": PROJECT_ID,
                "team_id": TEAM_ID, "status": 1}  # fmt: skip

    def _folder_search(self, **_):
        return {"data": [self._folder(name) for name in self.folders], "count": len(self.folders)}

    def _folder_by_name(self, query, **_):
        name = query["name"][0]
        return self._folder(name) if name in self.folders else {"error": "Folder not found"}

    def _statuses(self, **_):
        return {"data": [{"value": i + 1, "status": {"name": name}} for i, name in enumerate(self.statuses)]}

    def _item_search(self, context, payload, **_):
        query = payload["query"]
        wanted: dict[str, set] = {}
        for condition in query.get("search", {}).get("$and", []):
            for field, test in condition.items():
                wanted[field] = set(test["$in"]) if isinstance(test, dict) and "$in" in test else {test}
        folder_id = context.get("folder_id")
        rows = []
        for item_id, item in sorted(self.items.items()):
            row = self._item_row(item_id, item["metadata"])
            if folder_id is not None and row["folder_id"] != folder_id:
                continue
            if all(row.get(field) in values for field, values in wanted.items()):
                rows.append(row)
        page = rows[query["offset"] : query["offset"] + query["limit"]]
        return {"data": page, "count": len(rows)}

    def _item_row(self, item_id: int, meta: dict) -> dict:
        folder = meta.get("folder_name") or "root"
        return {"id": item_id, "name": meta["name"], "folder_id": self.folders[folder], "project_id": PROJECT_ID,
                "annotation_status": self.statuses.index(meta["status"]) + 1, "approval_status": None,
                "createdAt": meta.get("createdAt", meta["updatedAt"]), "updatedAt": meta["updatedAt"],
                "entropy_value": None, "assignments": [], "metadata": {"path": f"https://files.example/{meta['name']}"}}  # fmt: skip

    def _classify(self, payload, **_):
        return {"small": {"0": {"data": [{"id": i} for i in payload["item_ids"] if i in self.items]}}, "large": []}

    def _download(self, query, payload, **_):
        """The streamed download: JSON annotations separated by the SDK's literal `\\n;)\\n` delimiter."""
        multimodal = query.get("transform_version") == ["llmJsonV2"]
        parts = []
        for item_id in payload["image_ids"]:
            item = self.items[item_id]
            meta = item["metadata"]
            metadata = {"id": item_id, "name": meta["name"], "folder_name": meta.get("folder_name") or "root"}
            wrong = self.default_format.get(item_id, 0) > 0  # the SDK's large-item path ignores transform_version
            if wrong:
                self.default_format[item_id] -= 1
            body = (
                {"metadata": metadata, "data": item["data"]}
                if multimodal and not wrong
                else {"metadata": metadata, "instances": []}
            )
            parts.append(json.dumps(body))
        return "\\n;)\\n".join(parts).encode()


def _handler(fake: FakeSuperAnnotate) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload, *rest = fake.handle(self.command, split.path, parse_qs(split.query), headers, body)
            extra = rest[0] if rest else {}
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def route_sdk_to(fake: FakeSuperAnnotate) -> Iterator[None]:
    """Send the SDK's requests (requests and aiohttp) for *.superannotate.com to `fake`."""
    import aiohttp
    import requests.adapters

    send, request = requests.adapters.HTTPAdapter.send, aiohttp.ClientSession._request

    def patched_send(self, prepared, **kwargs):
        prepared.url = fake.rewrite(prepared.url)
        return send(self, prepared, **kwargs)

    async def patched_request(self, method, url, *args, **kwargs):
        return await request(self, method, fake.rewrite(url), *args, **kwargs)

    requests.adapters.HTTPAdapter.send = patched_send
    aiohttp.ClientSession._request = patched_request
    try:
        yield
    finally:
        requests.adapters.HTTPAdapter.send, aiohttp.ClientSession._request = send, request
