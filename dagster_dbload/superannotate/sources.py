"""Where annotated items come from: the SuperAnnotate SDK, or a local folder in the SDK's export shape.

Both sources offer the same two calls: `list_items` (items in a status, changed since a time, in pages)
and `get_annotations` (the multimodal `data` of items, by id).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from ..retrying import retrying
from ..sql import redact_secrets

_T = TypeVar("_T")
log = logging.getLogger(__name__)
_SEARCH_LIMIT = 2000  # rows per item search, as the SDK's list_items asks


class SuperAnnotateError(RuntimeError):
    """SuperAnnotate could not be read; the message says what to check."""


@dataclass(frozen=True)
class SAItem:
    """One version of an item: `updated_at` is SuperAnnotate's ISO timestamp (second precision)."""

    id: int
    name: str
    folder: str
    status: str
    updated_at: str

    @property
    def updated(self) -> datetime:
        return parse_time(self.updated_at)


def _stamp(value: datetime) -> str:
    """A UTC time in SuperAnnotate's ISO form, `2024-05-01T10:00:00.000Z`."""
    utc = value.astimezone(timezone.utc)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def parse_time(value: str) -> datetime:
    """An ISO timestamp (`2024-05-01T10:00:00.000Z`) as an aware UTC datetime."""
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp.astimezone(timezone.utc)


def check_statuses(statuses: Sequence[str], valid: Sequence[str] | None = None) -> list[str]:
    """At least one status name; with `valid` (a project's workflow statuses), each must be one of them."""
    if isinstance(statuses, str) or not statuses or not all(isinstance(s, str) and s.strip() for s in statuses):
        raise ValueError(
            f"statuses {statuses!r}: give a list of one or more workflow status names, e.g. ['Completed']."
        )
    unknown = [s for s in statuses if valid is not None and s not in valid]
    if unknown:
        raise ValueError(
            f"statuses {unknown} are not in the project's workflow, whose statuses are {list(valid or ())}."
        )
    return list(statuses)


class SuperAnnotateSource(ConfigurableResource):
    """The interface the sensor and the asset use; `project` names the SuperAnnotate project."""

    project: str = Field(description="SuperAnnotate project name.")

    @property
    def project_name(self) -> str:
        return self.project

    def list_items(
        self, statuses: Sequence[str], updated_since: datetime | None = None, page_size: int = 500
    ) -> Iterator[list[SAItem]]:
        """Items whose status is in `statuses` and updatedAt >= `updated_since`, in pages of `page_size`."""
        raise NotImplementedError

    def get_items(self, item_ids: Sequence[int]) -> list[SAItem]:
        """The items with these ids as they are now (status, updatedAt); ids of deleted items are left out."""
        raise NotImplementedError

    def get_annotations(self, item_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Item id -> the multimodal `data` dict ({component_id: {"value": ...} | [{"value", "element_path"}]})."""
        raise NotImplementedError


def _pages(items: Iterator[SAItem], page_size: int) -> Iterator[list[SAItem]]:
    page: list[SAItem] = []
    for item in items:
        page.append(item)
        if len(page) >= page_size:
            yield page
            page = []
    if page:
        yield page


class LocalSuperAnnotateExport(SuperAnnotateSource):
    """A folder of item JSON files, `{"metadata": {id, name, folder_name, status, updatedAt}, "data": {...}}`.

    The SDK's `get_annotations(..., data_spec="multimodal")` shape plus item metadata; files may sit in
    sub-folders. `project` defaults to the folder's name.
    """

    path: str = Field(description="Folder holding one JSON file per item.")
    project: str = Field(default="", description="Project name (default: the folder's name).")

    @property
    def project_name(self) -> str:
        return self.project or Path(self.path).name

    def _read(self) -> Iterator[tuple[SAItem, dict[str, Any]]]:
        root = Path(self.path)
        if not root.is_dir():
            raise SuperAnnotateError(f"LocalSuperAnnotateExport: {root} is not a folder; set `path` to the export.")
        for file in sorted(root.rglob("*.json")):
            try:
                doc = json.loads(file.read_text())
                meta = doc["metadata"]
                item = SAItem(
                    id=int(meta["id"]),
                    name=str(meta["name"]),
                    folder=str(meta.get("folder_name") or "root"),
                    status=str(meta.get("status") or "NotStarted"),
                    updated_at=str(meta["updatedAt"]),
                )
                parse_time(item.updated_at)
                data = doc.get("data") or {}
                if not isinstance(data, dict):
                    raise TypeError("`data` must be an object keyed by component id")
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise SuperAnnotateError(
                    f"{file} is not an item export: {type(e).__name__}: {e}. Each file needs "
                    '{"metadata": {"id": <int>, "name", "folder_name", "status", "updatedAt": "<ISO time>"}, '
                    '"data": {<component_id>: {"value": ...}}}.'
                ) from e
            yield item, data

    def status_counts(self) -> dict[str, int]:
        """How many exported items have each status."""
        counts: dict[str, int] = {}
        for item, _ in self._read():
            counts[item.status] = counts.get(item.status, 0) + 1
        return counts

    def list_items(
        self, statuses: Sequence[str], updated_since: datetime | None = None, page_size: int = 500
    ) -> Iterator[list[SAItem]]:
        wanted = set(check_statuses(statuses))
        chosen = (
            item
            for item, _ in self._read()
            if item.status in wanted and (updated_since is None or item.updated >= updated_since)
        )
        yield from _pages(chosen, page_size)

    def get_items(self, item_ids: Sequence[int]) -> list[SAItem]:
        wanted = set(item_ids)
        return [item for item, _ in self._read() if item.id in wanted]

    def get_annotations(self, item_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        wanted = set(item_ids)
        return {item.id: data for item, data in self._read() if item.id in wanted}


class SuperAnnotateResource(SuperAnnotateSource):
    """A SuperAnnotate project through the `superannotate` SDK (install `dagster-dbload[superannotate]`).

    Lists items with one item search over the whole project (status and updatedAt filtered by the server, paged
    by id), fetches annotations with `data_spec="multimodal"`, and retries
    429 and 5xx answers with exponential backoff (the SDK itself does not retry 429). The SDK's version
    check and usage metrics are turned off.
    """

    token: str = Field(description='SuperAnnotate SDK token or API key, e.g. EnvVar("SA_TOKEN").')
    team_id: int | None = Field(default=None, description="Team, for organization-scoped API keys.")
    max_attempts: int = Field(default=5, description="Attempts per call on 429/5xx and connection errors.")
    backoff_seconds: float = Field(default=1.0, description="First retry delay; doubles on each attempt.")
    _client: Any = PrivateAttr(default=None)
    _project_entity: Any = PrivateAttr(default=None)
    _status_map: dict[str, int] | None = PrivateAttr(default=None)
    _refused: bool = PrivateAttr(default=False)  # the server refused the updatedAt filter
    _watched: _Watched | None = PrivateAttr(default=None)

    def client(self) -> Any:
        if self._client is None:
            os.environ.setdefault("SA_VERSION_CHECK", "false")
            os.environ.setdefault("SA_SKIP_METRICS", "true")
            try:
                from superannotate import SAClient
            except ImportError as e:
                raise SuperAnnotateError(
                    "SuperAnnotateResource needs the SDK: pip install 'dagster-dbload[superannotate]'."
                ) from e
            try:
                self._client = SAClient(token=self.token, team_id=self.team_id)
            except Exception as e:
                raise SuperAnnotateError(
                    f"SuperAnnotate refused the token ({type(e).__name__}: {redact_secrets(str(e), self.token)}). Check "
                    "SA_TOKEN: an SDK token or API key from the team's settings (and team_id for an organization key)."
                ) from None
        return self._client

    def _call(self, what: str, fn: Callable[[], _T]) -> _T:
        """Run one SDK call on the package's retry policy: 429/5xx (seen at the HTTP layer, waiting as long as a
        Retry-After header asks) and connection errors are retried up to `max_attempts` calls in all."""
        client = self.client()
        if self._watched is None:
            self._watched = _watch_statuses(client)
        watched = self._watched

        def transient(error: BaseException) -> bool:
            return any(s == 429 or s >= 500 for s in watched.statuses) or _is_connection_error(error)

        def again(error: BaseException, delay: float, attempt: int) -> None:
            log.warning("SuperAnnotate %s: HTTP %s, retrying in %.1fs", what, sorted(set(watched.statuses)), delay)

        try:
            for attempt in retrying(transient, attempts=self.max_attempts, first_delay=self.backoff_seconds,
                                    max_delay=60.0, retry_after=lambda _: watched.retry_after,
                                    before_sleep=again):  # fmt: skip
                with attempt:
                    watched.clear()
                    return fn()
        except Exception as e:
            seen = f" (HTTP {sorted(set(watched.statuses))})" if watched.statuses else ""
            tries = attempt.retry_state.attempt_number
            raise SuperAnnotateError(
                f"SuperAnnotate {what} failed{seen} after {tries} attempt(s): {redact_secrets(str(e), self.token)}. "
                f"Check that project {self.project!r} exists and the token can read it."
            ) from None
        raise AssertionError("unreachable")

    def list_items(
        self, statuses: Sequence[str], updated_since: datetime | None = None, page_size: int = 500
    ) -> Iterator[list[SAItem]]:
        """One search of the whole project, filtered on status and (with `updated_since`) updatedAt by the server,
        so a tick reads the items that changed, not the project. A server that refuses the updatedAt filter
        gets the search without it (every item in `statuses`), with a warning."""
        wanted = check_statuses(statuses, self.workflow_statuses())
        values = self._status_values()
        by_status = [{"annotation_status": {"$in": [values[s] for s in wanted]}}]
        if updated_since is None:
            rows = self._search(by_status)
        else:
            since = [{"updatedAt": {"$gte": _stamp(updated_since)}}]
            rows = self._search(by_status + since, refused=lambda: self._search(by_status))
        changed = (
            item
            for item in self._to_items(rows, updated_since)
            if updated_since is None or item.updated >= updated_since
        )
        yield from _pages(changed, page_size)

    def get_items(self, item_ids: Sequence[int]) -> list[SAItem]:
        ids = list(item_ids)
        chunks = [ids[i : i + _SEARCH_LIMIT] for i in range(0, len(ids), _SEARCH_LIMIT)]
        return list(self._to_items((page for c in chunks for page in self._search([{"id": {"$in": c}}])), None))

    def _search(
        self, conditions: list[dict[str, Any]], refused: Callable[[], Iterator[list[dict[str, Any]]]] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of the item search over the whole project (the request `list_items` makes per folder, without
        the folder), rows matching every JSX condition. Pages follow ids: each asks for ids above the last one
        read, not for an offset, so an item that leaves or joins the matches between two requests cannot shift
        another past the page boundary. `refused`: what to read instead if the first request answers 400/422."""
        client = self.client()
        project = self._project()
        http = client.controller.service_provider.item_service.client
        context = base64.b64encode(f'{{"team_id":{http.team_id},"project_id":{project.id}}}'.encode()).decode()
        after: int | None = None
        while True:
            search = conditions + ([{"id": {"$gt": after}}] if after is not None else [])
            body = {"query": {"limit": _SEARCH_LIMIT, "offset": 0, "search": {"$and": search}}}

            def post(body: dict[str, Any] = body) -> Any:
                response = http.request(
                    "items/search", "post", data=body, headers={"x-sa-entity-context": context}, dispatcher="data"
                )
                if not response.ok and response.status not in (400, 422):
                    raise SuperAnnotateError(f"HTTP {response.status}: {response.error}")
                return response

            response = self._call("items/search", post)
            if not response.ok:
                if refused is not None and after is None:
                    self._refused = True
                    log.warning(
                        "SuperAnnotate refused the search %s (%s); reading every item in the statuses instead.",
                        json.dumps(search), redact_secrets(str(response.error), self.token),
                    )  # fmt: skip
                    yield from refused()
                    return
                raise SuperAnnotateError(
                    f"SuperAnnotate refused the item search {json.dumps(search)}: "
                    f"{redact_secrets(str(response.error), self.token)}"
                )
            rows: list[dict[str, Any]] = response.data or []
            ids = [int(r["id"]) for r in rows]
            if ids != sorted(set(ids)) or (after is not None and ids and ids[0] <= after):
                raise SuperAnnotateError(
                    "SuperAnnotate's item search answered out of id order, which paging by id relies on; "
                    f"ids {ids[:5]}... after {after}."
                )
            if rows:
                yield rows
            total = response.total_count or None  # the matches from this page on, where the server says
            if not rows or (total is not None and total <= len(rows)) or (total is None and len(rows) < _SEARCH_LIMIT):
                return
            after = ids[-1]

    def _to_items(self, pages: Iterable[list[dict[str, Any]]], since: datetime | None) -> Iterator[SAItem]:
        """Search rows as SAItems: status names from the workflow, folder names listed once (when a row needs
        one). Rows older than `since` mean the server ignored the updatedAt filter: said once (list_items drops them)."""
        names = {v: k for k, v in self._status_values().items()}
        floor = parse_time(_stamp(since)) if since is not None else None
        folders: dict[int, str] | None = None
        ignored = relisted = False
        for page in pages:
            for row in page:
                if folders is None or (row["folder_id"] not in folders and not relisted):  # a folder made since
                    relisted = folders is not None
                    folders = self._folder_names()
                item = SAItem(int(row["id"]), row["name"], folders.get(row["folder_id"], "root"),
                              names.get(row["annotation_status"], str(row["annotation_status"])),
                              row["updatedAt"])  # fmt: skip
                if floor is not None and not ignored and not self._refused and item.updated < floor:
                    ignored = True
                    log.warning(
                        "SuperAnnotate ignored the updatedAt filter: each tick reads every item in its statuses."
                    )
                yield item

    def _folder_names(self) -> dict[int, str]:
        client = self.client()
        folders = self._call("list_folders", lambda: client.list_folders(self.project))
        return {int(f["id"]): f["name"] for f in folders}

    def _project(self) -> Any:
        """The project's SDK entity (its id and workflow), read once."""
        if self._project_entity is None:
            client = self.client()
            self._project_entity = self._call("project", lambda: client.controller.get_project(self.project))
        return self._project_entity

    def _status_values(self) -> dict[str, int]:
        """Workflow status name -> the value the item search filters and answers with, read once."""
        if self._status_map is None:
            project = self._project()
            work = self.client().controller.service_provider.work_management

            def fetch() -> dict[str, int]:
                response = work.list_workflow_statuses(project.id, project.workflow_id)
                if not response.ok:
                    raise SuperAnnotateError(f"listing the workflow's statuses failed: {response.error}")
                return {s["status"]["name"]: int(s["value"]) for s in response.data["data"]}

            self._status_map = self._call("workflow statuses", fetch)
        return self._status_map

    def workflow_statuses(self) -> list[str]:
        """The status names of the project's workflow (custom workflows have their own), read once."""
        return list(self._status_values())

    def get_annotations(self, item_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not item_ids:
            return {}
        client = self.client()
        found: dict[int, dict[str, Any]] = {}
        wanted = list(item_ids)
        for _ in range(2):  # items that come back in another format (no `data`) are asked for once more
            annotations = self._call(
                "get_annotations",
                functools.partial(client.get_annotations, self.project, items=wanted, data_spec="multimodal"),
            )
            found |= {int(a["metadata"]["id"]): a["data"] or {} for a in annotations if "data" in a}
            wanted = [int(a["metadata"]["id"]) for a in annotations if "data" not in a]
            if not wanted:
                return found
        raise SuperAnnotateError(
            f"SuperAnnotate returned items {wanted} of project {self.project!r} twice without their component data "
            "(not in the multimodal format; the SDK's path for large items does that). The run loads nothing, so no "
            "row is overwritten with NULLs; run it again later."
        )


@dataclass
class _Watched:
    """The HTTP error statuses the SDK received in the current attempt (emptied as each starts), and the last
    Retry-After (seconds) a server sent with one."""

    statuses: list[int] = field(default_factory=list)
    retry_after: float | None = None

    def clear(self) -> None:
        self.statuses.clear()
        self.retry_after = None

    def record(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        if response.status_code >= 400:
            self.statuses.append(response.status_code)
            with contextlib.suppress(TypeError, ValueError):
                self.retry_after = float(response.headers.get("Retry-After"))
        return response


def _watch_statuses(client: Any) -> _Watched:
    """What the SDK receives (it hides HTTP errors in its messages), recorded by a response hook on every session
    its HTTP clients hand out. The SDK keeps a session per thread and per six-minute period (its `get_session`
    cache key), so the hook goes on each session as it is handed out, not only on the one that exists now: a call
    that crossed a period, or ran on another thread, got a fresh session and its 429s went unseen."""
    watched = _Watched()
    provider = client.controller.service_provider
    http_clients = {id(c): c for c in [provider.client, *(getattr(s, "client", None) for s in vars(provider).values())]}
    for http in http_clients.values():
        if hasattr(http, "get_session"):
            http.get_session = _hooked(http.get_session, watched.record)
    return watched


def _hooked(get_session: Callable[[], Any], hook: Callable[..., Any]) -> Callable[[], Any]:
    """`get_session`, giving each session it returns `hook` among its response hooks (once)."""

    def hooked_session() -> Any:
        session = get_session()
        if hook not in session.hooks["response"]:
            session.hooks["response"].append(hook)
        return session

    return hooked_session


def _is_connection_error(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, ConnectionError) or any(
        s in text for s in ("Connection aborted", "Max retries exceeded", "Can't get annotations")
    )
