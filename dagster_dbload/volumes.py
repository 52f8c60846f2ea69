"""Unity Catalog Volume staging over the connector: parts go up with streaming `PUT`, away with `REMOVE`."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from typing import Any

from .sql import literal


class VolumeFileSystem:
    """The few filesystem calls the stager makes, carried out as PUT/REMOVE statements (no temp files).

    Each call runs on `shared` (the load's own connection) when it is free, else on a connection of the
    warehouse's (upload threads running at once); no call opens a session the load's could serve.
    """

    def __init__(self, warehouse: Any, shared: Any = None):
        self.warehouse = warehouse
        self._shared = shared
        self._shared_busy = False
        self._lock = threading.Lock()
        self.written: list[str] = []

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        with self._lock:
            use_shared = self._shared is not None and not self._shared_busy
            self._shared_busy = self._shared_busy or use_shared
        with contextlib.ExitStack() as stack:
            if use_shared:
                stack.callback(self._release)
                connection = self._shared
            else:
                connection = stack.enter_context(self.warehouse.session())
            cursor = connection.cursor()
            stack.callback(cursor.close)
            yield cursor

    def _release(self) -> None:
        with self._lock:
            self._shared_busy = False

    def pipe_file(self, path: str, data: bytes) -> None:
        with self._cursor() as cursor:
            cursor.execute(f"PUT '__input_stream__' INTO {literal(path)} OVERWRITE", input_stream=io.BytesIO(data))
        with self._lock:
            self.written.append(path)

    def makedirs(self, path: str, exist_ok: bool = True) -> None:
        """Volumes have no directories to make."""

    def exists(self, path: str) -> bool:
        return any(p.startswith(path.rstrip("/") + "/") for p in self.written)

    def rm(self, path: str, recursive: bool = False) -> None:
        prefix = path.rstrip("/") + "/"
        for file in [p for p in self.written if p.startswith(prefix)]:
            with self._cursor() as cursor:
                cursor.execute(f"REMOVE {literal(file)}")
            self.written.remove(file)

    def close(self) -> None:
        """Nothing to end: connections go back to the warehouse after each call."""
