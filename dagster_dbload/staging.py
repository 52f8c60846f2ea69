"""Parquet staging through fsspec: parts written while the stream is read, uploads in parallel."""

from __future__ import annotations

import hashlib
import io
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

MIN_ROW_GROUP_ROWS = 64 * 1024


@dataclass
class StagedFiles:
    """What one materialization staged."""

    url: str  # the prefix, ending in "/"
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    rows: int = 0
    seconds: float = 0.0


def prefix_for(table: str, run_id: str, step_key: str, partition: str | None) -> str:
    """A folder unique to (table, run, step, partition), the same on every retry of the step."""
    part = "_unpartitioned" if partition is None else _slug(partition)
    return f"{table}/{run_id}/{_slug(step_key)}/{part}"


def _slug(text: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.=-]+", "_", text)[:80]
    return clean if clean == text else f"{clean}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


class Stager:
    """Writes a record batch stream as parquet parts under `<base_url>/<prefix>/`."""

    def __init__(
        self,
        base_url: str,
        storage_options: Mapping[str, Any] | None = None,
        target_file_bytes: int = 128 * 1024 * 1024,
        max_parallel_uploads: int = 4,
    ):
        self.fs, self.base_path = fsspec.core.url_to_fs(base_url, **dict(storage_options or {}))
        self.base_url = base_url.rstrip("/")
        self.local = isinstance(self.fs, LocalFileSystem)
        self.target_file_bytes = target_file_bytes
        self.max_parallel_uploads = max_parallel_uploads
        self.compression = "snappy" if self.local else "zstd"

    def url(self, prefix: str) -> str:
        return f"{self.base_url}/{prefix}/"

    def write(self, reader: pa.RecordBatchReader, prefix: str) -> StagedFiles:
        """Stage the stream; memory stays near one part plus the parts being uploaded."""
        start = time.perf_counter()
        staged = StagedFiles(self.url(prefix))
        folder = f"{self.base_path.rstrip('/')}/{prefix}"
        if self.local:
            self.fs.makedirs(folder, exist_ok=True)
        slots = threading.BoundedSemaphore(self.max_parallel_uploads)
        uploads: list[Future] = []
        with ThreadPoolExecutor(self.max_parallel_uploads) as pool:
            part = _Part(self, folder, 0, reader.schema)
            pending: list[pa.RecordBatch] = []
            pending_rows = 0
            for batch in reader:
                pending.append(batch)
                pending_rows += batch.num_rows
                if pending_rows >= MIN_ROW_GROUP_ROWS:
                    part.write(pending)
                    pending, pending_rows = [], 0
                    if part.size >= self.target_file_bytes:
                        self._finish(part, staged, pool, slots, uploads)
                        part = _Part(self, folder, len(staged.files), reader.schema)
            part.write(pending)
            if part.rows or not staged.files:
                self._finish(part, staged, pool, slots, uploads)
            for upload in uploads:
                upload.result()
        staged.seconds = time.perf_counter() - start
        return staged

    def _finish(self, part: _Part, staged: StagedFiles, pool, slots, uploads: list[Future]) -> None:
        data = part.close()
        staged.files.append(part.name)
        staged.bytes += part.size
        staged.rows += part.rows
        if data is not None:
            slots.acquire()
            future = pool.submit(self.fs.pipe_file, part.path, data)
            future.add_done_callback(lambda _: slots.release())
            uploads.append(future)

    def delete(self, prefix: str) -> None:
        folder = f"{self.base_path.rstrip('/')}/{prefix}"
        if self.fs.exists(folder):
            self.fs.rm(folder, recursive=True)


class _Part:
    """One parquet file being written: straight to disk when local, to memory for an upload otherwise."""

    def __init__(self, stager: Stager, folder: str, index: int, schema: pa.Schema):
        self.name = f"part-{index:05d}.parquet"
        self.path = f"{folder}/{self.name}"
        self.sink: Any = stager.fs.open(self.path, "wb") if stager.local else io.BytesIO()
        self.writer = pq.ParquetWriter(
            self.sink, schema, compression=stager.compression, coerce_timestamps="us", allow_truncated_timestamps=True
        )
        self.rows = 0
        self.size = 0

    def write(self, batches: list[pa.RecordBatch]) -> None:
        if batches:
            self.writer.write_table(pa.Table.from_batches(batches), row_group_size=1 << 30)
            self.rows += sum(b.num_rows for b in batches)
            self.size = self.sink.tell()

    def close(self) -> bytes | None:
        """Finish the file; returns its bytes when they still need uploading."""
        self.writer.close()
        self.size = self.sink.tell()
        if isinstance(self.sink, io.BytesIO):
            return self.sink.getvalue()
        self.sink.close()
        return None
