"""Parquet staging through fsspec: parts written while the stream is read, uploads in parallel, and a layout
that depends on the rows and settings alone."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from .naming import TableRef
from .volumes import VolumeFileSystem

CHUNK_ROWS = 122_880  # DuckDB's row group; a staged row group is written as chunks of this many rows
ROW_GROUP_ROWS = 2 * CHUNK_ROWS  # local parts: whole DuckDB row groups, and a reader's threads get several
REMOTE_ROW_GROUP_ROWS = 4 * CHUNK_ROWS  # parts that cross a network: larger groups compress better (zstd)
STRIPES = 4  # row group n goes to stripe n % STRIPES; part of the layout, so never taken from the machine
RELEASE_BYTES = 64 * 1024 * 1024  # staging this much returns arrow's freed memory to the system before the load
SPOOL_BYTES = 16 * 1024 * 1024  # a remote part bigger than this waits for its upload on local disk, not in memory


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


def volume_of(url: str) -> TableRef | None:
    """The catalog.schema.volume of a /Volumes/... URL, as a three-part name."""
    path = url.removeprefix("dbfs:")
    parts = path.split("/")
    return TableRef(parts[2], parts[3], parts[4]) if path.startswith("/Volumes/") and len(parts) > 4 else None


def _slug(text: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.=-]+", "_", text)[:80]
    return clean if clean == text else f"{clean}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


class Stager:
    """Writes a record batch stream as parquet parts under `<base_url>/<prefix>/`.

    The layout is a function of the rows and the settings alone: the stream is cut into row groups of exactly
    ROW_GROUP_ROWS rows (REMOTE_ROW_GROUP_ROWS off local disk), group n goes to stripe n % STRIPES, and each
    stripe fills parts of `target_file_bytes`.
    `threads` (default: the CPUs this process can use now) only decides how many stripes encode at once and
    how many parts upload at once, so the same rows make the same files on any machine, under any load.
    """

    def __init__(
        self,
        base_url: str,
        storage_options: Mapping[str, Any] | None = None,
        target_file_bytes: int = 128 * 1024 * 1024,
        threads: int | None = None,
        filesystem: tuple[Any, str] | None = None,
        compression: str | None = None,
    ):
        """`filesystem` (fs, path) overrides fsspec's choice for the URL, e.g. for Unity Catalog Volumes;
        `compression` the parquet codec (default: none on local disk, read once by a nearby engine; zstd for
        parts that cross a network)."""
        self.fs: Any
        self.base_path: str
        self.fs, self.base_path = filesystem or fsspec.core.url_to_fs(base_url, **dict(storage_options or {}))
        self.base_url = base_url.rstrip("/")
        self.local = isinstance(self.fs, LocalFileSystem)
        self.target_file_bytes = target_file_bytes
        self.threads = max(1, threads or min(STRIPES, available_cpus()))
        self.compression = compression or ("none" if self.local else "zstd")
        self.row_group_rows = ROW_GROUP_ROWS if self.local else REMOTE_ROW_GROUP_ROWS

    def url(self, prefix: str) -> str:
        return f"{self.base_url}/{prefix}/"

    def write(
        self,
        reader: pa.RecordBatchReader,
        prefix: str,
        content_names: bool = False,
        on_group: Callable[[int, int], None] | None = None,
    ) -> StagedFiles:
        """Stage the stream (`on_group` hears of each row group's rows and bytes). With `content_names` each part's
        name carries a hash of its bytes, so the same rows staged again get the same names and other rows others."""
        start = time.perf_counter()
        folder = f"{self.base_path.rstrip('/')}/{prefix}"
        if self.local:
            self.fs.makedirs(folder, exist_ok=True)
        run = _Run(self, folder, reader.schema, content_names)
        groups = 0
        try:
            for group in _row_groups(reader, self.row_group_rows):
                run.put(groups % STRIPES, group)
                groups += 1
                if on_group is not None:
                    on_group(group.num_rows, group.nbytes)
            if not groups:  # an empty output still stages its schema
                run.put(0, pa.Table.from_batches([], reader.schema))
        finally:
            parts = run.finish()
        if sum(p.size for p in parts) >= RELEASE_BYTES:  # encoding buffers go back before the load statement
            pa.default_memory_pool().release_unused()  # runs; below this, giving them back costs more than it frees
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


class Attempt:
    """One attempt's staged files, from staging to cleanup (use it as a context manager). Its files are deleted
    when the attempt fails before its load statement is sent (they are of no use), kept when the load failed
    (for inspection; the error says where), and after a load, the step's whole `folder` (this attempt's files
    and any an earlier failed attempt kept) is deleted unless `keep`. An append stages in `folder` itself, named
    by content, so a retry makes the same names; other modes stage in a folder of their own."""

    def __init__(self, stager: Stager, folder: str, content_names: bool, keep: bool = False):
        self.stager, self.folder, self.content_names, self.keep = stager, folder, content_names, keep
        self.prefix = folder if content_names else attempt_prefix(folder)
        self.sent = False  # the load's first statement went to the warehouse

    def write(self, reader: pa.RecordBatchReader, on_group: Callable[[int, int], None] | None = None) -> StagedFiles:
        return self.stager.write(reader, self.prefix, self.content_names, on_group)

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, error_type: Any, error: Any, traceback: Any) -> None:
        try:
            if error_type is None and not self.keep:
                self.stager.delete(self.folder)
            elif error_type is not None and not self.sent:
                self.stager.delete(self.prefix)
        finally:
            self.stager.close()


def available_cpus() -> int:
    """CPUs this process can use now: its affinity, capped by a cgroup CPU quota, less the other tasks running
    right now (/proc/loadavg's runnable count, which unlike the load averages reacts at once). At least 1.
    Sizes thread pools only; nothing staged depends on it."""
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


def _chunks(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The stream re-cut into batches of exactly CHUNK_ROWS rows (the last fewer): zero-copy where the input's
    boundaries line up, a copy of the one batch that spans two inputs where they do not."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        while batch.num_rows:
            take = min(CHUNK_ROWS - rows, batch.num_rows)
            pending.append(batch.slice(0, take))
            rows += take
            batch = batch.slice(take)
            if rows == CHUNK_ROWS:
                yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
                pending, rows = [], 0
    if rows:
        yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)


def _row_groups(reader: pa.RecordBatchReader, rows: int) -> Iterator[pa.Table]:
    """Tables of exactly `rows` rows (the last fewer; a multiple of CHUNK_ROWS), each of CHUNK_ROWS chunks."""
    pending: list[pa.RecordBatch] = []
    for chunk in _chunks(reader):
        pending.append(chunk)
        if len(pending) * CHUNK_ROWS == rows:
            yield pa.Table.from_batches(pending, reader.schema)
            pending = []
    if pending:
        yield pa.Table.from_batches(pending, reader.schema)


class _Run:
    """One `write`: stripes encoding on a shared pool, with back-pressure.

    At most `threads + 2` row groups are held, queued or encoding, and at most `threads` finished parts wait for
    their upload, so memory stays bounded however fast the stream produces rows or however slow the store is. The
    first row group waits for a second: a stream of one group is encoded in the caller's thread (handing it to a
    pool thread cost a 10,000-row load more than encoding it)."""

    def __init__(self, stager: Stager, folder: str, schema: pa.Schema, content_names: bool):
        self.stager = stager
        self.stripes = [_Stripe(stager, folder, i, schema, content_names, self) for i in range(STRIPES)]
        self.groups = threading.BoundedSemaphore(stager.threads + 1)
        self.uploads = threading.BoundedSemaphore(stager.threads)
        self.encoders = ThreadPoolExecutor(stager.threads, thread_name_prefix="dbload-encode")
        self.uploaders = ThreadPoolExecutor(stager.threads, thread_name_prefix="dbload-upload")
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self.first: tuple[int, pa.Table] | None = None
        self.handed_off = False

    def put(self, stripe: int, group: pa.Table) -> None:
        if self.first is None and not self.handed_off:
            self.first = (stripe, group)
            return
        if self.first is not None:
            first, self.first = self.first, None
            self._hand_off(*first)
        self._hand_off(stripe, group)

    def _hand_off(self, stripe: int, group: pa.Table) -> None:
        self.handed_off = True
        self.groups.acquire()
        if self.error is not None:
            self.groups.release()
            raise self.error
        self.stripes[stripe].put(group)

    def upload(self, part: _Part) -> None:
        """Hand a finished part to the upload threads; waits while `threads` uploads are pending."""
        self.uploads.acquire()
        self.uploaders.submit(part.upload).add_done_callback(self._uploaded)

    def _uploaded(self, future: Future) -> None:
        self.uploads.release()
        error = future.exception()
        if error is not None:
            self.fail(error)

    def fail(self, error: BaseException) -> None:
        with self.lock:
            self.error = self.error or error

    def finish(self) -> list[_Part]:
        """Wait for every stripe and upload; the parts in name order, or the first error."""
        if self.first is not None:  # the stream was one row group
            (stripe_index, group), self.first = self.first, None
            try:
                self.stripes[stripe_index].write(group)
            except BaseException as e:  # noqa: BLE001 - raised below, after the other stripes are cleaned up
                self.fail(e)
        for stripe in self.stripes:
            stripe.drained.wait()
        self.encoders.shutdown()
        if self.error is None:
            for stripe in self.stripes:
                stripe.close_part()
        self.uploaders.shutdown()  # waits for the uploads; their errors are in self.error
        if self.error is not None:
            for stripe in self.stripes:
                stripe.abandon()
            raise self.error
        return sorted((p for s in self.stripes for p in s.parts), key=lambda p: p.name)


class _Stripe:
    """Fills part files `part-<seq>-<stripe>.parquet` with the row groups it is given, one at a time, in order."""

    def __init__(self, stager: Stager, folder: str, index: int, schema: pa.Schema, content_names: bool, run: _Run):
        self.stager, self.folder, self.index, self.schema, self.run = stager, folder, index, schema, run
        self.content_names = content_names
        self.parts: list[_Part] = []
        self.current: _Part | None = None
        self.queue: deque[pa.Table] = deque()
        self.drained = threading.Event()  # clear while a drain task is submitted or running
        self.drained.set()

    def put(self, group: pa.Table) -> None:
        with self.run.lock:
            self.queue.append(group)
            if not self.drained.is_set():
                return
            self.drained.clear()
        self.run.encoders.submit(self._drain)

    def _drain(self) -> None:
        while True:
            with self.run.lock:
                if not self.queue:
                    self.drained.set()
                    return
                group = self.queue.popleft()
            try:
                if self.run.error is None:
                    self.write(group)
            except BaseException as e:  # re-raised in the caller's thread
                self.run.fail(e)
            finally:
                del group
                self.run.groups.release()

    def write(self, group: pa.Table) -> None:
        """Append a row group to the current part (a new one when none is open), closing it once full."""
        if self.current is None:
            stem = f"part-{len(self.parts):05d}-{self.index}"
            self.current = _Part(self.stager, self.folder, stem, self.schema, self.content_names)
        self.current.write(group)
        if self.current.size >= self.stager.target_file_bytes:
            self.close_part()

    def close_part(self) -> None:
        part, self.current = self.current, None
        if part is None:
            return
        part.close()
        self.parts.append(part)
        if not self.stager.local:
            self.run.upload(part)

    def abandon(self) -> None:
        if self.current is not None:
            self.current.discard()
            self.current = None


class _HashingSink:
    """A file object that hashes what passes through it to `sink`."""

    def __init__(self, sink: Any):
        self.sink, self.digest, self.closed = sink, hashlib.sha256(), False

    def write(self, data: Any) -> int:
        self.digest.update(data)
        return self.sink.write(data)

    def tell(self) -> int:
        return self.sink.tell()

    def flush(self) -> None:
        self.sink.flush()

    def close(self) -> None:
        self.closed = True


class _Part:
    """One parquet file being written: straight to disk when local; for an upload otherwise, in memory up to
    SPOOL_BYTES, then in a local temporary file."""

    def __init__(self, stager: Stager, folder: str, stem: str, schema: pa.Schema, content_name: bool):
        self.stager, self.stem, self.folder = stager, stem, folder
        self.name = f"{stem}.parquet"
        self.path = f"{folder}/{self.name}"
        self.file: Any = stager.fs.open(self.path, "wb") if stager.local else tempfile.SpooledTemporaryFile(SPOOL_BYTES)  # noqa: SIM115
        self.sink: _HashingSink | Any = _HashingSink(self.file) if content_name else self.file
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

    def close(self) -> None:
        """Finish the file (named after its bytes for an append)."""
        self.writer.close()
        self.size = self.sink.tell()
        content_name = isinstance(self.sink, _HashingSink)
        if content_name:
            self.name = f"{self.stem}-{self.sink.digest.hexdigest()[:20]}.parquet"
            old, self.path = self.path, f"{self.folder}/{self.name}"
        if self.stager.local:
            self.file.close()
            if content_name:
                os.replace(old, self.path)

    def upload(self) -> None:
        """Send a finished remote part to the store and let go of its bytes."""
        try:
            self.file.seek(0)
            self.stager.fs.pipe_file(self.path, self.file.read())
        finally:
            self.file.close()

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
        self.file.close()
