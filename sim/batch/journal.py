"""The journal of a batch's completed chunks, so that an interrupted batch can resume.

A journal is a folder holding ``header.json`` (what batch it belongs to and its chunk size), one file
per completed chunk (``chunk-<start>.pkl``, a pickled :class:`sim.batch.runner.ChunkResult`) and
``journal.jsonl``, one line per completed chunk with the file's SHA-256. A chunk file is written to a
temporary name, flushed and renamed before its line is appended and flushed, so a kill at any moment
leaves either a complete chunk that the journal names, or one the journal does not name (ignored and
run again); a torn last line is ignored too. The journal is only ever read back by the program that
wrote it, from the user's own results folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.batch import safeio

if TYPE_CHECKING:
    from sim.batch.runner import ChunkResult

#: Marks a folder as a journal of this program: only such folders are ever emptied or removed.
JOURNAL_MARKER = ".deploysim-journal"
HEADER = "header.json"
LINES = "journal.jsonl"


class JournalError(safeio.PathError):
    """A journal folder that cannot be used (not this program's)."""


def batch_digest(key: dict[str, object]) -> str:
    """SHA-256 of what identifies a batch (see :func:`sim.batch.runner.batch_key`)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(tmp, path)


class Journal:
    """A batch's journal (see the module's description), held under a lock while its batch runs.

    Use :meth:`open` rather than the constructor.

    Attributes:
        folder: The journal's folder.
        chunk_size: Replications per chunk of the batch (fixed by the journal once it has begun; None
            before :meth:`begin`).
        found: Completed chunks the folder held when it was opened (kept when resumed, else cleared).
        resumed: Whether the completed chunks were kept.
    """

    def __init__(self, folder: Path, lock: int, digest: str, chunk_size: int | None, entries: list[dict[str, Any]],
                 found: int):
        self.folder = folder
        self._lock = lock
        self._digest = digest
        self.chunk_size = chunk_size
        self._entries = entries
        #: Chunks recorded by this process (their entries are on disk only: a million runs make 4,000).
        self._recorded = 0
        self.found = found
        self.resumed = bool(entries)

    @classmethod
    def open(cls, folder: Path, key: dict[str, object], resume: bool) -> Journal | None:
        """Open ``folder`` as the journal of the batch ``key``, or None if another process holds it.

        With ``resume`` and a journal of the same batch there, its completed chunks are kept (and its
        chunk size wins); otherwise the folder is emptied. The lock (``flock`` on the folder) is released
        when the process ends, however it ends, so a killed run's journal can be resumed at once.

        Raises:
            JournalError: If ``folder`` exists, is not empty and is not a journal of this program.
        """
        digest = batch_digest(key)
        folder.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
        lock = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            return None
        try:
            names = os.listdir(folder)
            if names and JOURNAL_MARKER not in names:
                raise JournalError(f"{safeio.short(str(folder))} exists and is not a journal of deploysim")
            header = _read_header(folder) if names else None
            entries = _read_entries(folder) if names else []
            if resume and header is not None and header.get("batch") == digest:
                return cls(folder, lock, digest, int(header["chunk_size"]), entries, len(entries))
            for name in names:
                path = folder / name
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            (folder / JOURNAL_MARKER).touch()
            safeio.fsync_dir(folder)
            return cls(folder, lock, digest, None, [], len(entries))
        except BaseException:
            os.close(lock)
            raise

    def begin(self, chunk_size: int) -> int:
        """The batch's chunk size: the journal's own when resumed, else ``chunk_size``, now recorded."""
        if self.chunk_size is None:
            _write_atomic(self.folder / HEADER, json.dumps({"batch": self._digest, "chunk_size": chunk_size}).encode())
            safeio.fsync_dir(self.folder)
            self.chunk_size = chunk_size
        return self.chunk_size

    def __len__(self) -> int:
        """Completed chunks recorded."""
        return len(self._entries) + self._recorded

    def completed(self) -> Iterator[ChunkResult]:
        """The chunks recorded when the journal was opened, their results one at a time; a chunk whose file
        is missing or altered is skipped (it is run again)."""
        for entry in self._entries:
            path = self.folder / entry["file"]
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                continue
            yield pickle.loads(data)

    def record(self, result: ChunkResult) -> None:
        """Write one completed chunk: its file atomically, then its journal line."""
        name = f"chunk-{result.start:012d}.pkl"
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        _write_atomic(self.folder / name, data)
        entry = {"start": result.start, "file": name, "sha256": hashlib.sha256(data).hexdigest()}
        with open(self.folder / LINES, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(entry) + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        self._recorded += 1

    def remove(self) -> None:
        """Remove the journal (once its batch is stored) and release its lock."""
        try:
            if (self.folder / JOURNAL_MARKER).is_file():
                shutil.rmtree(self.folder)
        finally:
            self.close()

    def close(self) -> None:
        """Release the lock, keeping the journal (for a later resume)."""
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1


def journal_chunks(folder: Path) -> int:
    """How many completed chunks the journal at ``folder`` records (0 if none)."""
    if not (folder / JOURNAL_MARKER).is_file():
        return 0
    return len(_read_entries(folder))


def _read_header(folder: Path) -> dict[str, Any] | None:
    try:
        header = json.loads((folder / HEADER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return header if isinstance(header, dict) and "batch" in header and "chunk_size" in header else None


def _read_entries(folder: Path) -> list[dict[str, Any]]:
    """The journal's lines, each chunk once; a torn or foreign line is ignored."""
    entries: dict[int, dict[str, Any]] = {}
    try:
        text = (folder / LINES).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if (isinstance(entry, dict) and isinstance(entry.get("start"), int) and isinstance(entry.get("file"), str)
                and isinstance(entry.get("sha256"), str) and "/" not in entry["file"]):
            entries[entry["start"]] = entry
    return [entries[start] for start in sorted(entries)]
