"""A local stand-in for SuperAnnotate's HTTP services, for driving the real `superannotate` SDK offline.

The SDK's hosts are hard-coded (https://<service>.superannotate.com), so `route_sdk_to(server)` rewrites
those URLs to this server at the SDK's two HTTP clients (requests' adapter and aiohttp's session).
Payloads follow the SDK's own test data (multimodal `llmJsonV2` annotations, entity shapes from
`lib/core/entities`). `fail_next(status, n)` makes the next n requests answer with that status.

The item search (`POST item/api/v1/items/search`) evaluates the SDK's JSX conditions (`{"$and": [{field:
{"$gte": value}}, {"$or": [...]}]}`, operators from `lib/core/jsx_conditions.py`) on the item's columns,
timestamps compared as instants, answers in id order with `limit`/`offset` and the match `count`, and refuses
a field it cannot filter with 400. Items are kept compactly, with indexes on id and updatedAt, so a project of
100,000 items is cheap to hold and a search narrowed by updatedAt does not read them all.
"""

from __future__ import annotations

import base64
import bisect
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

TEAM_ID = 7
PROJECT_ID = 11
WORKFLOW_ID = 55
STATUSES = ["NotStarted", "InProgress", "QualityCheck", "Returned", "Completed", "Skipped"]
_HOST = re.compile(r"^https://([a-z-]+)\.superannotate\.com/")
# the item columns the search filters on; others (e.g. assignments.user_id) the fake does not model
FILTERABLE = ("id", "name", "folder_id", "project_id", "annotation_status", "approval_status", "createdAt",
              "updatedAt", "entropy_value")  # fmt: skip
_TIMESTAMPS = ("createdAt", "updatedAt")
_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$notin", "$isnull", "$notnull", "$cont",
              "$starts", "$ends")  # fmt: skip


class _Item(NamedTuple):
    """One item, compactly: its metadata, updatedAt as POSIX seconds, and its annotation `data`."""

    name: str
    folder: str
    status: str
    updated: str
    created: str
    stamp: float
    data: dict


class _BadQuery(ValueError):
    """A search the server refuses (400), e.g. on a column it cannot filter."""


def _stamp(value: str) -> float:
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).timestamp()


class FakeSuperAnnotate:
    """Serves one multimodal project: folders, items with workflow statuses, and their annotations.

    `filterable` is the set of item columns the search accepts; `max_limit` caps the rows one search answers
    (a server's page cap); `after_request(path, action)` runs `action` between two requests, as a change made
    by someone else while a client pages.
    """

    def __init__(self, project: str, token: str, statuses: list[str] | None = None) -> None:
        self.project = project
        self.token = token
        self.statuses = statuses or STATUSES  # the project's workflow (a custom one has its own names)
        self.folders: dict[str, int] = {"root": 100}
        self.default_format: dict[int, int] = {}  # id -> answers in the default format (the large-item path)
        self.requests: list[tuple[str, str]] = []
        self.rows_served = 0  # item rows the searches answered with
        self.filterable = set(FILTERABLE)
        self.max_limit: int | None = None
        self._items: dict[int, _Item] = {}
        self._ids: list[int] = []  # sorted
        self._by_time: list[tuple[float, int]] = []  # (updatedAt, id), sorted
        self._hooks: list[tuple[str, int, Callable[[], None]]] = []
        self._failures: list[tuple[int, str, float | None]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def add_item(self, item: dict) -> None:
        """Add or replace an item given in the export-folder shape ({"metadata": ..., "data": ...})."""
        with self._lock:
            item_id, record = self._record(item)
            old = self._items.get(item_id)
            if old is None:
                bisect.insort(self._ids, item_id)
            else:
                del self._by_time[bisect.bisect_left(self._by_time, (old.stamp, item_id))]
            bisect.insort(self._by_time, (record.stamp, item_id))
            self._items[item_id] = record

    def add_items(self, items: Iterable[dict]) -> None:
        """Add or replace many items at once (the indexes are sorted once, not per item)."""
        with self._lock:
            for item in items:
                item_id, record = self._record(item)
                self._items[item_id] = record
            self._ids = sorted(self._items)
            self._by_time = sorted((record.stamp, item_id) for item_id, record in self._items.items())

    def item(self, item_id: int) -> dict:
        """An item in the export-folder shape."""
        record = self._items[item_id]
        metadata = {"id": item_id, "name": record.name, "folder_name": record.folder, "status": record.status,
                    "updatedAt": record.updated, "createdAt": record.created}  # fmt: skip
        return {"metadata": metadata, "data": record.data}

    def after_request(self, path: str, action: Callable[[], None], nth: int = 1) -> None:
        """Run `action` once, after the `nth` request from now whose path contains `path` is answered."""
        with self._lock:
            self._hooks.append((path, nth, action))

    def searches(self) -> int:
        """How many item searches were answered."""
        return sum(1 for _, path in self.requests if path.endswith("/items/search"))

    def _record(self, item: dict) -> tuple[int, _Item]:
        meta = item["metadata"]
        folder = meta.get("folder_name") or "root"
        self.folders.setdefault(folder, 100 + len(self.folders))
        if meta["status"] not in self.statuses:
            raise ValueError(f"status {meta['status']!r} is not in the workflow {self.statuses}")
        updated = meta["updatedAt"]
        record = _Item(meta["name"], folder, meta["status"], updated, meta.get("createdAt", updated),
                       _stamp(updated), item.get("data") or {})  # fmt: skip
        return int(meta["id"]), record

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

    def handle(self, method: str, path: str, query: dict, headers: dict, body: bytes) -> tuple[Any, ...]:
        try:
            return self._handle(method, path, query, headers, body)
        finally:
            with self._lock:
                due = [hook for hook in self._hooks if hook[0] in path]
                self._hooks = [hook for hook in self._hooks if hook[0] not in path] + [
                    (where, nth - 1, action) for where, nth, action in due if nth > 1
                ]
            for _, nth, action in due:
                if nth == 1:
                    action()

    def _handle(self, method: str, path: str, query: dict, headers: dict, body: bytes) -> tuple[Any, ...]:
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
                try:
                    return 200, handler(query=query, context=context, payload=payload, **match.groupdict())
                except _BadQuery as e:
                    return 400, {"error": str(e)}
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
        """The JSX search: rows matching every condition of `search`, in id order, `limit` from `offset`."""
        query = payload["query"]
        conditions = (query.get("search") or {}).get("$and", [])
        test = self._compile({"$and": conditions})
        folder_id = context.get("folder_id")
        with self._lock:
            matches = [
                item_id
                for item_id in self._candidates(conditions)
                if (folder_id is None or self.folders[self._items[item_id].folder] == folder_id) and test(item_id)
            ]
            offset = query.get("offset") or 0
            limit = query.get("limit") or 100  # the SDK always sends one
            if self.max_limit is not None:
                limit = min(limit, self.max_limit)
            page = [self._item_row(item_id) for item_id in matches[offset : offset + limit]]
            self.rows_served += len(page)
        return {"data": page, "count": len(matches)}

    def _candidates(self, conditions: list) -> list[int]:
        """Item ids, in id order, that can match: narrowed by a lower bound on updatedAt, an id list or a
        lowest id (conditions at the top of the `$and`), as an index would; `_compile` still tests each."""
        bounds = {(field, op): value for c in conditions for field, t in c.items() if isinstance(t, dict)
                  for op, value in t.items()}  # fmt: skip
        since = bounds.get(("updatedAt", "$gte"), bounds.get(("updatedAt", "$gt")))
        if since is not None:
            start = bisect.bisect_left(self._by_time, (_stamp(since), -1))
            return sorted(item_id for _, item_id in self._by_time[start:])
        if ("id", "$in") in bounds:
            return sorted(set(bounds[("id", "$in")]) & self._items.keys())
        after = bounds.get(("id", "$gt"))
        return self._ids[bisect.bisect_right(self._ids, after) :] if after is not None else self._ids

    def _compile(self, condition: dict) -> Callable[[int], bool]:
        """A test of an item id for one JSX condition; a field the server cannot filter is a 400."""
        tests: list[Callable[[int], bool]] = []
        for key, test in condition.items():
            if key in ("$and", "$or"):
                parts = [self._compile(c) for c in test]
                tests.append((lambda ps: lambda i: all(p(i) for p in ps))(parts) if key == "$and"
                             else (lambda ps: lambda i: any(p(i) for p in ps))(parts))  # fmt: skip
                continue
            if key not in self.filterable:
                raise _BadQuery(f"Invalid filter field {key!r}")
            for op, value in test.items() if isinstance(test, dict) else [("$eq", test)]:
                if op not in _OPERATORS:
                    raise _BadQuery(f"Invalid filter operator {op!r}")
                if key in _TIMESTAMPS and op not in ("$isnull", "$notnull"):
                    try:
                        value = [_stamp(v) for v in value] if isinstance(value, list) else _stamp(value)
                    except (TypeError, ValueError, AttributeError):
                        raise _BadQuery(f"Invalid date {value!r} for {key}") from None
                tests.append(_comparison(self._column(key), op, value))
        return lambda item_id: all(t(item_id) for t in tests)

    def _column(self, field: str) -> Callable[[int], Any]:
        """An item column's value, as the search compares it (timestamps as POSIX seconds)."""
        status = {name: i + 1 for i, name in enumerate(self.statuses)}
        columns: dict[str, Callable[[int], Any]] = {
            "id": lambda i: i,
            "name": lambda i: self._items[i].name,
            "folder_id": lambda i: self.folders[self._items[i].folder],
            "project_id": lambda i: PROJECT_ID,
            "annotation_status": lambda i: status[self._items[i].status],
            "approval_status": lambda i: None,
            "createdAt": lambda i: _stamp(self._items[i].created),
            "updatedAt": lambda i: self._items[i].stamp,
            "entropy_value": lambda i: None,
        }
        return columns[field]

    def _item_row(self, item_id: int) -> dict:
        record = self._items[item_id]
        return {"id": item_id, "name": record.name, "folder_id": self.folders[record.folder], "project_id": PROJECT_ID,
                "annotation_status": self.statuses.index(record.status) + 1, "approval_status": None,
                "createdAt": record.created, "updatedAt": record.updated, "entropy_value": None, "assignments": [],
                "metadata": {"path": f"https://files.example/{record.name}"}}  # fmt: skip

    def _classify(self, payload, **_):
        return {"small": {"0": {"data": [{"id": i} for i in payload["item_ids"] if i in self._items]}}, "large": []}

    def _download(self, query, payload, **_):
        """The streamed download: JSON annotations separated by the SDK's literal `\\n;)\\n` delimiter."""
        multimodal = query.get("transform_version") == ["llmJsonV2"]
        parts = []
        for item_id in payload["image_ids"]:
            record = self._items[item_id]
            metadata = {"id": item_id, "name": record.name, "folder_name": record.folder}
            wrong = self.default_format.get(item_id, 0) > 0  # the SDK's large-item path ignores transform_version
            if wrong:
                self.default_format[item_id] -= 1
            body = (
                {"metadata": metadata, "data": record.data}
                if multimodal and not wrong
                else {"metadata": metadata, "instances": []}
            )
            parts.append(json.dumps(body))
        return "\\n;)\\n".join(parts).encode()


def _comparison(column: Callable[[int], Any], op: str, value: Any) -> Callable[[int], bool]:
    """SQL's reading of one operator: a NULL column matches only $isnull (and $notnull false)."""
    if op in ("$isnull", "$notnull"):
        wanted = bool(value) if op == "$isnull" else not value
        return lambda i: (column(i) is None) == wanted
    compare: dict[str, Callable[[Any], bool]] = {
        "$eq": lambda v: v == value, "$ne": lambda v: v != value, "$gt": lambda v: v > value,
        "$gte": lambda v: v >= value, "$lt": lambda v: v < value, "$lte": lambda v: v <= value,
        "$in": lambda v: v in value, "$notin": lambda v: v not in value, "$cont": lambda v: str(value) in v,
        "$starts": lambda v: v.startswith(str(value)), "$ends": lambda v: v.endswith(str(value)),
    }  # fmt: skip
    test = compare[op]

    def matches(item_id: int) -> bool:
        v = column(item_id)
        return v is not None and test(v)

    return matches


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
