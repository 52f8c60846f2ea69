"""Unity Catalog Volume staging over the connector: parts go up with streaming `PUT`, away with `REMOVE`."""

from __future__ import annotations

import contextlib
import io
import threading
from typing import Any

from .sql import literal


class VolumeFileSystem:
    """The few filesystem calls the stager makes, carried out as PUT/REMOVE statements (no temp files).

    Each upload thread uses its own connection; `close()` ends them.
    """

    def __init__(self, warehouse: Any):
        self.warehouse = warehouse
        self._local = threading.local()
        self._stacks: list[contextlib.ExitStack] = []
        self._lock = threading.Lock()
        self.written: list[str] = []

    def _cursor(self) -> Any:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            stack = contextlib.ExitStack()
            cursor = stack.enter_context(self.warehouse.connect()).cursor()
            with self._lock:
                self._stacks.append(stack)
            self._local.cursor = cursor
        return cursor

    def pipe_file(self, path: str, data: bytes) -> None:
        self._cursor().execute(f"PUT '__input_stream__' INTO {literal(path)} OVERWRITE", input_stream=io.BytesIO(data))
        with self._lock:
            self.written.append(path)

    def makedirs(self, path: str, exist_ok: bool = True) -> None:
        """Volumes have no directories to make."""

    def exists(self, path: str) -> bool:
        return any(p.startswith(path.rstrip("/") + "/") for p in self.written)

    def rm(self, path: str, recursive: bool = False) -> None:
        prefix = path.rstrip("/") + "/"
        for file in [p for p in self.written if p.startswith(prefix)]:
            self._cursor().execute(f"REMOVE {literal(file)}")
            self.written.remove(file)

    def close(self) -> None:
        for stack in self._stacks:
            stack.close()
        self._stacks.clear()
