"""Parquet staging through fsspec: parts written while the stream is read, uploads in parallel."""

from __future__ import annotations

import hashlib
import io
import os
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from .volumes import VolumeFileSystem

ROW_GROUP_ROWS = 512 * 1024


@dataclass
class StagedFiles:
    """What one materialization staged."""

    url: str  # the prefix, ending in "/"
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    rows: int = 0
    seconds: float = 0.0


def prefix_for(table: str, run_id: str, step_key: str, partition: str | None) -> str:
    """A folder unique to (table, run, step, partition), the same on every retry and re-execution of the step
    when `run_id` is the root run's id."""
    part = "_unpartitioned" if partition is None else _slug(partition)
    return f"{table}/{run_id}/{_slug(step_key)}/{part}"


def attempt_prefix(prefix: str) -> str:
    """A fresh folder under `prefix` for one attempt: a load reading it never sees another attempt's files."""
    return f"{prefix}/attempt-{uuid.uuid4().hex[:12]}"


def _slug(text: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.=-]+", "_", text)[:80]
    return clean if clean == text else f"{clean}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


class Stager:
    """Writes a record batch stream as parquet parts under `<base_url>/<prefix>/`.

    Row groups go round-robin to `writers` threads, each filling its own part file, so encoding runs on
    all cores while memory stays near `writers` row groups (plus the parts being uploaded when remote).
    """

    def __init__(
        self,
        base_url: str,
        storage_options: Mapping[str, Any] | None = None,
        target_file_bytes: int = 128 * 1024 * 1024,
        writers: int | None = None,
        filesystem: tuple[Any, str] | None = None,
        compression: str | None = None,
    ):
        """`filesystem` (fs, path) overrides fsspec's choice for the URL, e.g. for Unity Catalog Volumes;
        `compression` the parquet codec (default: none on local disk, read once by a nearby engine; zstd for
        parts that cross a network)."""
        self.fs, self.base_path = filesystem or fsspec.core.url_to_fs(base_url, **dict(storage_options or {}))
        self.base_url = base_url.rstrip("/")
        self.local = isinstance(self.fs, LocalFileSystem)
        self.target_file_bytes = target_file_bytes
        self.writers = writers or min(4, available_cpus())
        self.compression = compression or ("none" if self.local else "zstd")

    def url(self, prefix: str) -> str:
        return f"{self.base_url}/{prefix}/"

    def write(
        self,
        reader: pa.RecordBatchReader,
        prefix: str,
        content_names: bool = False,
        on_group: Callable[[int, int], None] | None = None,
    ) -> StagedFiles:
        """Stage the stream (`on_group` hears of each row group). Names depend only on the data's order; with `content_names` they also carry a
        hash of the file's bytes, so the same rows staged again get the same names and other rows other names."""
        start = time.perf_counter()
        folder = f"{self.base_path.rstrip('/')}/{prefix}"
        if self.local:
            self.fs.makedirs(folder, exist_ok=True)
        with ThreadPoolExecutor(self.writers) as uploads:
            lanes = [_Lane(self, folder, i, reader.schema, uploads, content_names) for i in range(self.writers)]
            try:
                for n, group in enumerate(_row_groups(reader)):
                    lanes[n % len(lanes)].put(group)
                    if on_group is not None:  # (rows, bytes) of each row group, for progress
                        on_group(group.num_rows, group.nbytes)
            finally:
                for lane in lanes:
                    lane.finish()
            parts = sorted((p for lane in lanes for p in lane.parts), key=lambda p: p.name)
            pa.default_memory_pool().release_unused()  # encoding buffers go back before the load statement runs
            if not parts:  # an empty output still stages its schema
                empty = _Lane(self, folder, 0, reader.schema, uploads, content_names, threaded=False)
                empty.write(pa.Table.from_batches([], reader.schema))
                empty.finish()
                parts = empty.parts
        return StagedFiles(
            self.url(prefix),
            [p.name for p in parts],
            sum(p.size for p in parts),
            sum(p.rows for p in parts),
            time.perf_counter() - start,
        )

    def close(self) -> None:
        """Release what the filesystem holds (connections of a Volume filesystem)."""
        if isinstance(self.fs, VolumeFileSystem):
            self.fs.close()

    def delete(self, prefix: str, keep: int = 1) -> None:
        """Remove `prefix` and, on local disk, the folders above it it leaves empty, up to its first `keep`
        parts (the table's folder, where other runs may be staging)."""
        folder = f"{self.base_path.rstrip('/')}/{prefix}"
        if self.fs.exists(folder):
            self.fs.rm(folder, recursive=True)
        parts = prefix.strip("/").split("/")
        for depth in range(len(parts) - 1, keep, -1) if self.local else ():
            try:
                os.rmdir(f"{self.base_path.rstrip('/')}/{'/'.join(parts[:depth])}")
            except OSError:  # not empty (another step or attempt is staging there) or already gone
                break


def available_cpus() -> int:
    """CPUs this process can use now: its affinity, capped by a cgroup CPU quota, less the other tasks running
    right now (/proc/loadavg's runnable count, which unlike the load averages reacts at once). At least 1."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    try:
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])  # this thread included
        cpus -= max(0, running - 1)
    except (OSError, ValueError, IndexError):
        pass
    return max(1, cpus)


def _row_groups(reader: pa.RecordBatchReader) -> Iterator[pa.Table]:
    """The stream regrouped into tables of about ROW_GROUP_ROWS rows (no copies: batches are referenced)."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= ROW_GROUP_ROWS:
            yield pa.Table.from_batches(pending, reader.schema)
            pending, rows = [], 0
    if rows:
        yield pa.Table.from_batches(pending, reader.schema)


class _Lane:
    """One writer thread: fills part files `part-<seq>-<lane>.parquet` with the row groups it is given."""

    def __init__(
        self, stager: Stager, folder: str, index: int, schema: pa.Schema, uploads, content_names: bool,
        threaded: bool = True,
    ):  # fmt: skip
        self.stager, self.folder, self.index, self.schema, self.uploads = stager, folder, index, schema, uploads
        self.content_names = content_names
        self.parts: list[_Part] = []
        self.pending_uploads: list[Future] = []
        self.current: _Part | None = None
        self.error: BaseException | None = None
        self.queue: queue.Queue = queue.Queue(maxsize=1)
        self.thread = threading.Thread(target=self._run, daemon=True) if threaded else None
        if self.thread:
            self.thread.start()

    def put(self, group: pa.Table) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(group)

    def _run(self) -> None:
        while (group := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.write(group)
                except BaseException as e:  # re-raised in the caller's thread
                    self.error = e

    def write(self, group: pa.Table) -> None:
        if self.current is None:
            self.current = _Part(self.stager, self.folder, f"part-{len(self.parts):05d}-{self.index}", self.schema)
        self.current.write(group)
        if self.current.size >= self.stager.target_file_bytes:
            self._close_part()

    def _close_part(self) -> None:
        part, self.current = self.current, None
        data = part.close(self.content_names)
        self.parts.append(part)
        if data is not None:
            self.pending_uploads.append(self.uploads.submit(self.stager.fs.pipe_file, part.path, data))

    def finish(self) -> None:
        if self.thread:
            self.queue.put(None)
            self.thread.join()
        if self.error is None and self.current is not None:
            self._close_part()
        for upload in self.pending_uploads:
            upload.result()
        if self.error is not None:
            raise self.error


class _Part:
    """One parquet file being written: straight to disk when local, to memory for an upload otherwise."""

    def __init__(self, stager: Stager, folder: str, stem: str, schema: pa.Schema):
        self.stem, self.folder = stem, folder
        self.name = f"{stem}.parquet"
        self.path = f"{folder}/{self.name}"
        self.sink: Any = stager.fs.open(self.path, "wb") if stager.local else io.BytesIO()
        self.writer = pq.ParquetWriter(
            self.sink, schema, compression=stager.compression, coerce_timestamps="us", allow_truncated_timestamps=True,
            use_dictionary=stager.compression != "none",  # uncompressed parts are read once, nearby: encode fast
        )  # fmt: skip
        self.rows = 0
        self.size = 0

    def write(self, group: pa.Table) -> None:
        self.writer.write_table(group, row_group_size=1 << 30)
        self.rows += group.num_rows
        self.size = self.sink.tell()

    def close(self, content_name: bool = False) -> bytes | None:
        """Finish the file (named after its bytes with `content_name`); returns its bytes when they still
        need uploading."""
        self.writer.close()
        self.size = self.sink.tell()
        if isinstance(self.sink, io.BytesIO):
            data = self.sink.getvalue()
            if content_name:
                self._rename(hashlib.sha256(data).hexdigest())
            return data
        self.sink.close()
        if content_name:
            digest = hashlib.sha256()
            with open(self.path, "rb") as fh:
                while chunk := fh.read(8 << 20):
                    digest.update(chunk)
            old = self.path
            self._rename(digest.hexdigest())
            os.replace(old, self.path)
        return None

    def _rename(self, digest: str) -> None:
        self.name = f"{self.stem}-{digest[:20]}.parquet"
        self.path = f"{self.folder}/{self.name}"
