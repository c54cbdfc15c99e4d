"""A batch's tables written to Parquet as its chunks complete, and read back a column at a time.

Memory of a batch held whole grows with its replications (about 2.3 KB each for the replication,
delay and strength tables). A spilled batch (``run(..., spill=FOLDER)``, as ``deploysim run`` does)
instead appends each chunk's rows to three Parquet files (chunks gathered into row groups of about
:data:`ROW_GROUP_BYTES`), in the order of the replications whatever the order the chunks complete in:

- ``replications.parquet``: the replication table, as :attr:`sim.batch.results.Results.replications`;
- ``delays.parquet``: the delay table, as :attr:`~sim.batch.results.Results.delays`;
- ``strength.parquet``: officers in theatre at the checkpoint days, one row per replication and a
  column ``<series>@<day>`` per series and checkpoint (the long
  :attr:`~sim.batch.results.Results.strength` is built from it when asked for).

The statistics a run reports read only what they need: one replication column (8 MB at a million
runs, filled a row group at a time), one cause's days at one milestone (sorted into scratch files in
one pass over the delay file), one checkpoint's officers. They apply the same functions to the same
values in the same order as for a batch held in memory, so the tables are identical. The spill's
files keep no Parquet statistics (a reader holds every row group's), and the replication table's
text columns are written as dictionaries and read back as the text they were.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

#: The tables a spill holds, by file stem.
TABLES = ("replications", "delays", "strength")
#: Bytes (in Arrow) of a row group of a spilled table: chunks are written together until they reach it.
#: Each read or copy holds a row group or two at a time: at 30,000 runs the peak was 285-289 MiB with
#: 2 MB and 300-332 MiB with 8 MB.
ROW_GROUP_BYTES = 2 << 20
#: Columns of the delay table held as Parquet dictionaries (an index per row, not a string).
_DICTIONARY_COLUMNS = ("milestone", "cause")
#: Text columns of the replication table (``<milestone>_binding``: a few labels) are spilled as
#: dictionaries too, and given back as the text they were (a column read whole as text is about
#: 58 bytes per row at a million runs, as codes 4).
_TEXT_SUFFIX = "_binding"


def strength_column(series: str, day: int) -> str:
    """The spilled strength column of a series at a checkpoint day."""
    return f"{series}@{day}"


class Spill:
    """Parquet files that a batch's chunks are appended to, in replication order.

    Args:
        folder: An empty folder (or one to create) that this spill alone writes in.
        starts: The first replication of every chunk the batch will add, in any order; chunks are
            written in the order of their starts, those that complete early held until their turn.
        owned: Remove ``folder`` when this object is garbage-collected (a spill made for a
            :class:`~sim.batch.results.Results` in a notebook); False when the caller removes it.
    """

    def __init__(self, folder: str | Path, starts: Iterable[int], owned: bool = False):
        self.folder = Path(folder)
        self._created = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._order = sorted(set(starts))
        self._next = 0
        self._waiting: dict[int, tuple[pd.DataFrame | None, pd.DataFrame, pd.DataFrame]] = {}
        self._writers: dict[str, Any] = {}
        self._schemas: dict[str, pa.Schema] = {}
        #: Each table's schema as the chunks gave it (what it is read back and stored as).
        self._public: dict[str, pa.Schema] = {}
        #: Nulls written to each column of each table (the files keep no statistics).
        self._nulls: dict[str, dict[str, int]] = {}
        self.rows = dict.fromkeys(TABLES, 0)
        #: The checkpoint days and officers-in-theatre series of the strength table, in column order.
        self.strength_days: list[int] = []
        self.strength_series: list[str] = []
        self.closed = False
        self._readers: dict[str, Any] = {}
        self._pending: dict[str, list[pa.Table]] = {table: [] for table in TABLES}
        self._pending_rows = dict.fromkeys(TABLES, 0)
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.folder), True) if owned else None

    def path(self, table: str) -> Path:
        """The Parquet file of a table."""
        return self.folder / f"{table}.parquet"

    # -- writing -------------------------------------------------------------------------------

    def add(self, start: int, replications: pd.DataFrame | None, delays: pd.DataFrame,
            strength: pd.DataFrame) -> None:
        """Take one chunk's tables (``replications`` None if every replication of it failed)."""
        self._waiting[start] = (replications, delays, strength)
        while self._next < len(self._order) and self._order[self._next] in self._waiting:
            frames = self._waiting.pop(self._order[self._next])
            for table, frame in zip(TABLES, frames, strict=True):
                if frame is not None:  # an empty one still gives the file its columns
                    self._append(table, frame)
            self._next += 1

    def _append(self, table: str, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        if table not in self._writers:
            # The first chunk's schema, with its pandas metadata (so that columns read back with their dtypes).
            schema = self._public[table] = arrow.schema
            for i, field in enumerate(schema):  # one index width for every chunk
                if field.name in _DICTIONARY_COLUMNS or (field.name.endswith(_TEXT_SUFFIX)
                                                         and _is_text_or_null(field.type)):
                    schema = schema.set(i, pa.field(field.name, pa.dictionary(pa.int32(), pa.string())))
            self._schemas[table] = schema
            # No statistics: a writer and a reader hold every row group's in memory (their text min and max
            # above all: 29 MiB for the three files at a million runs, against 4 MiB without).
            self._writers[table] = pq.ParquetWriter(self.path(table), schema, write_statistics=False)
            self._nulls[table] = dict.fromkeys(schema.names, 0)
        elif len(frame):
            self._settle(table, arrow.schema)
        if not len(frame):
            return
        # Chunks are gathered into row groups of a few MB: a file of one small group per chunk carries
        # footer metadata per group and column (about 0.3 GB at a million runs).
        self._pending[table].append(arrow.cast(self._schemas[table]))
        nulls = self._nulls[table]
        for name, column in zip(arrow.column_names, arrow.columns, strict=True):
            nulls[name] += column.null_count
        self._pending_rows[table] += len(frame)
        self.rows[table] += len(frame)
        if self._pending_rows[table] * self._row_bytes(table) >= ROW_GROUP_BYTES:
            self._flush(table)

    def _settle(self, table: str, chunk: pa.Schema) -> None:
        """Give a column that earlier chunks left without a type (an empty chunk, or only nulls: Arrow's
        ``null``, or a Categorical of no categories) the type, and pandas metadata, of ``chunk``'s."""
        public = self._public[table]
        unsettled = [name for name in public.names
                     if _is_null_type(public.field(name).type) and name in chunk.names
                     and not _is_null_type(chunk.field(name).type)]
        if not unsettled:
            return
        meta, new = _pandas_metadata(public), _pandas_metadata(chunk)
        for name in unsettled:
            public = public.set(public.get_field_index(name), chunk.field(name))
        if meta is not None and new is not None:
            entries = {c["name"]: c for c in new["columns"]}
            meta["columns"] = [entries[c["name"]] if c["name"] in unsettled and c["name"] in entries else c
                               for c in meta["columns"]]
            public = public.with_metadata({**public.metadata, b"pandas": json.dumps(meta).encode()})
        self._public[table] = public

    def _row_bytes(self, table: str) -> int:
        return max(1, self._pending[table][0].nbytes // max(1, self._pending[table][0].num_rows))

    def _flush(self, table: str) -> None:
        import pyarrow as pa

        if self._pending[table]:
            group = pa.concat_tables(self._pending[table])
            self._writers[table].write_table(group, row_group_size=max(1, group.num_rows))
        self._pending[table] = []
        self._pending_rows[table] = 0

    def close(self) -> None:
        """Finish the files (every chunk was added)."""
        if self._waiting:
            missing = sorted(self._waiting)
            raise RuntimeError(f"chunks from replication {missing[0]} were added but not written")
        for table, writer in self._writers.items():
            self._flush(table)
            writer.close()
        self._writers.clear()
        self.closed = True

    def remove(self) -> None:
        """Delete the spill's files, and its folder if the spill made it (a folder given empty stays)."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
        if self._finalizer is not None:
            self._finalizer()
            return
        for table in TABLES:
            self.path(table).unlink(missing_ok=True)
        if self._created:
            with contextlib.suppress(OSError):  # someone else put a file there: leave it
                self.folder.rmdir()

    # -- reading -------------------------------------------------------------------------------

    def has(self, table: str) -> bool:
        """Whether some chunk wrote rows to the table."""
        return self.path(table).is_file()

    def _file(self, table: str) -> Any:
        """The table's open :class:`pyarrow.parquet.ParquetFile` (opened once the files are finished)."""
        import pyarrow.parquet as pq

        if not self.closed:
            raise RuntimeError("the spill's files are read once every chunk is written")
        if table not in self._readers:
            self._readers[table] = pq.ParquetFile(self.path(table))
        return self._readers[table]

    def _groups(self, table: str, columns: Sequence[str] | None = None) -> Iterator[pa.Table]:
        """A table's row groups in order, as Arrow tables (``iter_batches`` held about 0.3 GB more at a
        million runs)."""
        file = self._file(table)
        for group in range(file.num_row_groups):
            yield file.read_row_group(group, columns=list(columns) if columns is not None else None,
                                      use_threads=False)

    def columns(self, table: str) -> list[str]:
        """The columns of a table."""
        return list(self._file(table).schema_arrow.names) if self.has(table) else []

    def read(self, table: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The table, or some of its columns, with the dtypes it was written with."""
        arrow = self._file(table).read(columns=list(columns) if columns is not None else None)
        return self._as_written(table, arrow).to_pandas()

    def _as_written(self, table: str, arrow: pa.Table) -> pa.Table:
        """Arrow data of a table with the types and metadata of the chunks' frames (text spilled as
        dictionaries back to text)."""
        public = self._public.get(table)
        if public is None:
            return arrow
        import pyarrow as pa

        schema = pa.schema([public.field(name) for name in arrow.column_names], metadata=public.metadata)
        if arrow.schema == schema:
            return arrow
        columns = []
        for column, field in zip(arrow.columns, schema, strict=True):
            if _is_null_type(field.type):  # no chunk gave the column a value
                columns.append(pa.nulls(len(column), field.type))
            else:
                columns.append(column.cast(field.type) if column.type != field.type else column)
        return pa.Table.from_arrays(columns, schema=schema)

    def _matching(self, table: str, label: str, value: str, where: Mapping[str, str],
                  labels: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Per row group, the rows where each column of ``where`` equals its value: each row's code into
        ``labels`` (the labels of column ``label``, appended to as new ones are seen) and its ``value``."""
        import pyarrow as pa
        import pyarrow.compute as pc

        index: dict[str, int] = {}
        for group in self._groups(table, [label, value, *where]):
            mask = None
            for column, wanted in where.items():
                term = pc.equal(group.column(column), pa.scalar(wanted))
                mask = term if mask is None else pc.and_(mask, term)
            kept = group.filter(mask)
            if not kept.num_rows:
                continue
            codes = _codes_of(kept.column(label), index)
            labels.extend(list(index)[len(labels):])
            yield codes, np.array(kept.column(value).to_numpy(zero_copy_only=False), dtype=float)

    def label_values(self, table: str, label: str, value: str,
                     where: Mapping[str, str]) -> Iterator[tuple[str, np.ndarray]]:
        """The rows where each column of ``where`` equals its value, grouped by column ``label``: each label
        (in the order first seen) with the ``value`` of its rows, in the file's order, one label at a time.

        One pass over the file sorts the values into a scratch file per label, inside the spill's folder
        and removed after, so memory holds one label's values (8 bytes a row) and a row group."""
        import tempfile

        scratch = Path(tempfile.mkdtemp(prefix=".values-", dir=self.folder))
        try:
            outs: dict[int, Any] = {}
            labels: list[str] = []
            try:
                for codes, values in self._matching(table, label, value, where, labels):
                    for code in pd.unique(codes).tolist():
                        if code < 0:  # no label: left out, as a groupby leaves it out
                            continue
                        if code not in outs:
                            outs[code] = open(scratch / f"{code}.f8", "wb")  # noqa: SIM115 (closed below)
                        values[codes == code].tofile(outs[code])
            finally:
                for out in outs.values():
                    out.close()
            for code in outs:
                yield labels[code], np.fromfile(scratch / f"{code}.f8", dtype=np.float64)
                (scratch / f"{code}.f8").unlink()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def column(self, table: str, name: str) -> pd.Series:
        """One column of a table, as :meth:`read` gives it.

        A column of numbers is filled a row group at a time into one array (at a million runs, 8 MB
        and a row group in flight; Arrow's reader of the whole column held about 35 MB more); text
        and labels are read whole."""
        file = self._file(table)
        dtype = _plain_dtype(file.schema_arrow, name, self._nulls.get(table, {}).get(name))
        public = self._public.get(table)
        if dtype is None and public is not None and public.field(name).type != file.schema_arrow.field(name).type:
            return self._text_column(table, name)
        if dtype is None:
            return self.read(table, [name])[name]
        out = np.empty(file.metadata.num_rows, dtype=dtype)
        at = 0
        for group in self._groups(table, [name]):
            values = group.column(0).to_numpy()  # floats: nulls come back as NaN, as in to_pandas
            out[at:at + len(values)] = values
            at += len(values)
        return pd.Series(out, name=name)

    def _text_column(self, table: str, name: str) -> pd.Series:
        """A text column spilled as a dictionary: its codes gathered a row group at a time, then given as
        the text it was written as, each value a reference to one of its few labels (8 bytes a row)."""
        index: dict[str, int] = {}
        codes = np.empty(self._file(table).metadata.num_rows, dtype=np.int32)
        at = 0
        dtype = None
        for group in self._groups(table, [name]):
            if dtype is None:
                dtype = self._as_written(table, group.slice(0, 0)).to_pandas()[name].dtype
            part = _codes_of(group.column(0), index)
            codes[at:at + len(part)] = part
            at += len(part)
        labels = np.array([*sorted(index, key=index.__getitem__), None], dtype=object)
        return pd.Series(pd.array(labels[codes], dtype=dtype), name=name)  # code -1: the None at the end

    def batches(self, table: str, columns: Sequence[str]) -> Iterator[pd.DataFrame]:
        """Some columns of a table, a row group (a few MB) at a time, in order."""
        for group in self._groups(table, list(columns)):
            yield self._as_written(table, group).to_pandas()

    def copy(self, table: str, target: Path, metadata: Mapping[bytes, bytes]) -> None:
        """Write a table to ``target`` a row group at a time, with the types the chunks gave it and
        ``metadata`` added to its schema."""
        import pyarrow.parquet as pq

        schema = self._public.get(table, self._file(table).schema_arrow)
        schema = schema.with_metadata({**(schema.metadata or {}), **metadata})
        with pq.ParquetWriter(target, schema, write_statistics=statistics_columns(schema)) as writer:
            for group in self._groups(table):
                writer.write_table(self._as_written(table, group).replace_schema_metadata(schema.metadata))


def statistics_columns(schema: pa.Schema) -> list[str]:
    """The columns of a large table written a row group at a time that keep Parquet statistics: all but
    text and labels (a writer holds every row group's statistics until it closes, and the text columns'
    are most of them)."""
    import pyarrow as pa

    return [f.name for f in schema if not (pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                                           or pa.types.is_dictionary(f.type))]


def _pandas_metadata(schema: pa.Schema) -> dict[str, Any] | None:
    """The pandas metadata pyarrow keeps in a schema (column types, index), or None."""
    raw = (schema.metadata or {}).get(b"pandas")
    return None if raw is None else json.loads(raw)


def _is_null_type(kind: pa.DataType) -> bool:
    """Arrow's type for a column of only nulls: ``null``, or a dictionary of ``null`` values."""
    import pyarrow as pa

    return pa.types.is_null(kind) or (pa.types.is_dictionary(kind) and pa.types.is_null(kind.value_type))


def _is_text_or_null(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)


def _codes_of(values: pa.ChunkedArray, index: dict[str, int]) -> np.ndarray:
    """Each value's code into ``index`` (labels to codes, in the order first seen; new labels are added),
    -1 for a null."""
    import pyarrow as pa

    labelled = values.combine_chunks()
    if not pa.types.is_dictionary(labelled.type):
        labelled = labelled.dictionary_encode()
    local = [str(v) for v in labelled.dictionary.to_pylist()]
    lookup = np.array([*(index.setdefault(v, len(index)) for v in local), -1], dtype=np.int32)
    return lookup[labelled.indices.fill_null(len(local)).to_numpy(zero_copy_only=False)]


def _plain_dtype(schema: pa.Schema, name: str, nulls: int | None) -> np.dtype | None:
    """The NumPy dtype a column reads back as, if it is one of plain numbers that a row group's values can
    be copied into as they are: floats, or integers without a null (``nulls``: how many were written;
    a null would make them floats)."""
    import pyarrow as pa

    field = schema.field(name)
    if not pa.types.is_floating(field.type) and not pa.types.is_integer(field.type):
        return None
    dtype = np.dtype(field.type.to_pandas_dtype())
    pandas = {c.get("name"): c for c in (schema.pandas_metadata or {}).get("columns", [])}
    if name in pandas and pandas[name].get("numpy_type") != str(dtype):  # e.g. pandas' nullable Int64
        return None
    if pa.types.is_integer(field.type) and nulls != 0:
        return None
    return dtype


def strength_frame_of(columns: Mapping[str, np.ndarray], replications: np.ndarray,
                      days: Sequence[int]) -> pd.DataFrame:
    """One chunk's spilled strength table: ``replication`` and a column per series and checkpoint day."""
    wide: dict[str, np.ndarray] = {"replication": np.asarray(replications, dtype=np.int64)}
    for series, values in columns.items():
        for i, day in enumerate(days):
            wide[strength_column(series, day)] = np.ascontiguousarray(values[:, i], dtype=np.int64)
    return pd.DataFrame(wide)
