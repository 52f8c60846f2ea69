"""Staging writes parquet parts through fsspec with bounded part sizes, and a layout (names, bytes, rows per
file) that depends on the rows and settings alone: not on threads, machine load or the batches the rows came in."""

import random

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_dbload.staging import REMOTE_ROW_GROUP_ROWS, ROW_GROUP_ROWS, Stager, prefix_for

DATA = pa.table({"id": pa.array(range(2_000_000), pa.int64()), "s": pa.array(["x" * 12] * 2_000_000)})


@pytest.mark.parametrize("base", ["local", "memory://staging-test"])
def test_parts_are_sized_named_deterministically_and_hold_all_rows(base, tmp_path):
    url = str(tmp_path / "stage") if base == "local" else base
    stager = Stager(url, target_file_bytes=256 * 1024, threads=2)
    prefix = prefix_for("main.s.t", "run-1", "step", "2024-01-01")
    first = stager.write(DATA.to_reader(max_chunksize=100_000), prefix)
    assert first.rows == DATA.num_rows and len(first.files) > 2
    fs, path = fsspec.core.url_to_fs(first.url)
    read = pa.concat_tables(pq.read_table(f"{path}/{name}", filesystem=fs) for name in first.files)
    assert read.sort_by("id").equals(DATA)
    again = stager.write(DATA.to_reader(max_chunksize=100_000), prefix)
    assert again.files == first.files and again.url == first.url
    stager.delete(prefix)
    assert not fs.exists(path)


def test_an_empty_stream_stages_one_file_with_the_schema(tmp_path):
    stager = Stager(str(tmp_path))
    staged = stager.write(DATA.slice(0, 0).to_reader(), "empty")
    assert staged.rows == 0 and len(staged.files) == 1
    assert pq.read_schema(tmp_path / "empty" / staged.files[0]) == DATA.schema


def test_prefixes_are_unique_per_run_step_and_partition():
    prefixes = {
        prefix_for("t", run, step, partition)
        for run in ("r1", "r2")
        for step in ("a", "a/b")
        for partition in (None, "2024-01-01", "o'brien; DROP", "2024-01-01|US")
    }
    assert len(prefixes) == 16
    assert all(" " not in p and ";" not in p and "'" not in p for p in prefixes)


def test_a_failing_stream_raises_in_the_caller(tmp_path):
    def broken():
        yield DATA.to_batches(max_chunksize=600_000)[0]
        raise RuntimeError("source broke")

    reader = pa.RecordBatchReader.from_batches(DATA.schema, broken())
    with pytest.raises(RuntimeError, match="source broke"):
        Stager(str(tmp_path)).write(reader, "broken")


def _batched(table: pa.Table, rng: random.Random) -> pa.RecordBatchReader:
    """`table` as a stream of randomly sized batches, as a lazy source produces them."""
    batches, offset = [], 0
    while offset < table.num_rows:
        size = rng.choice([1, 999, 65_536, 100_003, 300_000])
        batches.extend(table.slice(offset, size).to_batches())
        offset += size
    return pa.RecordBatchReader.from_batches(table.schema, batches)


def _layout(base: str, prefix: str, staged) -> dict[str, tuple[int, bytes]]:
    fs, path = fsspec.core.url_to_fs(base)
    return {name: (pq.read_metadata(fs.open(f"{path}/{prefix}/{name}")).num_rows,
                   fs.cat_file(f"{path}/{prefix}/{name}")) for name in staged.files}  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("base", ["local", "memory://layout"])
def test_the_same_rows_stage_the_same_files_whatever_the_threads_and_batches(seed, base, tmp_path):
    rng = random.Random(seed)
    rows = rng.choice([3 * ROW_GROUP_ROWS + 17, 1_500_000, DATA.num_rows])
    data = DATA.slice(0, rows)
    url = str(tmp_path / "stage") if base == "local" else f"{base}-{seed}"
    target = rng.choice([256 * 1024, 4 << 20, 128 << 20])
    layouts = []
    for threads in (1, 2, 4, 3):  # content names (append) and plain names (the other modes)
        stager = Stager(url, target_file_bytes=target, threads=threads)
        staged = stager.write(_batched(data, rng), f"t{threads}", content_names=True)
        assert staged.rows == rows
        layouts.append(_layout(url, f"t{threads}", staged))
    assert len(layouts[0]) >= 2  # several row groups: the case the old lanes got wrong
    assert all(layout == layouts[0] for layout in layouts[1:])


@pytest.mark.parametrize(("base", "group"), [("local", ROW_GROUP_ROWS), ("memory://groups", REMOTE_ROW_GROUP_ROWS)])
def test_row_groups_are_whole_duckdb_groups_locally_and_larger_remotely(base, group, tmp_path):
    """Local parts: 245,760-row groups (two of DuckDB's); remote parts: 491,520 (zstd compresses them better)."""
    url = str(tmp_path / "stage") if base == "local" else base
    staged = Stager(url, threads=2).write(DATA.to_reader(max_chunksize=77_777), "g")
    fs, path = fsspec.core.url_to_fs(url)
    sizes = sorted(
        meta.row_group(i).num_rows
        for name in staged.files
        for meta in [pq.read_metadata(fs.open(f"{path}/g/{name}"))]
        for i in range(meta.num_row_groups)
    )
    assert sizes[-1] == group and sizes.count(group) == DATA.num_rows // group
    assert sum(sizes) == DATA.num_rows and (ROW_GROUP_ROWS, REMOTE_ROW_GROUP_ROWS) == (245_760, 491_520)
