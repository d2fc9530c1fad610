"""A worker's recorded rows until the archive has them.

Every flushed batch gets a sequence number and stays here until the driver
acknowledges it (``take(acked)`` drops what is acknowledged and hands out the
rest again), so rows survive a drain call that never came back (a partition) and
reach the archive after a heal. Memory stays bounded: beyond ``max_bytes`` the
oldest batches are spilled to Arrow IPC files in a local folder of the worker's
own host and read back when handed out.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from dataclasses import dataclass

import pyarrow as pa

DEFAULT_MAX_BYTES = 256 << 20  # in memory, beyond that spilled to disk
DEFAULT_TAKE_BYTES = 64 << 20  # handed out per drain at most (one Ray reply stays small)


@dataclass(frozen=True)
class Parcel:
    """One flushed batch: its sequence number and how many arrivals it holds."""

    seq: int
    batch: pa.RecordBatch
    arrivals: int


@dataclass
class _Entry:
    seq: int
    arrivals: int
    rows: int
    nbytes: int
    batch: pa.RecordBatch | None  # None: spilled to ``path``
    path: str | None = None


class Outbox:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, take_bytes: int = DEFAULT_TAKE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.take_bytes = take_bytes
        self._entries: deque[_Entry] = deque()
        self._seq = 0
        self._in_memory = 0
        self._spill_dir: str | None = None
        self.spilled_batches = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def acked(self) -> int:
        """The newest sequence number forgotten (every batch up to it is acknowledged)."""
        return self._entries[0].seq - 1 if self._entries else self._seq

    @property
    def rows(self) -> int:
        """Rows recorded and not yet acknowledged."""
        return sum(e.rows for e in self._entries)

    def put(self, batch: pa.RecordBatch, arrivals: int) -> int:
        self._seq += 1
        entry = _Entry(self._seq, arrivals, batch.num_rows, batch.nbytes, batch)
        self._entries.append(entry)
        self._in_memory += entry.nbytes
        self._spill_over()
        return self._seq

    def take(self, acked: int) -> list[Parcel]:
        """Forget every batch up to ``acked``; hand out the oldest of the rest (up to
        ``take_bytes``, at least one)."""
        self.drop(acked)
        out: list[Parcel] = []
        size = 0
        for e in self._entries:
            if out and size + e.nbytes > self.take_bytes:
                break
            out.append(_parcel(e))
            size += e.nbytes
        return out

    def after(self, seq: int) -> list[Parcel]:
        """Every batch newer than ``seq``, still kept (a worker writing its own parts
        reads what it has not handed to its writer yet)."""
        return [_parcel(e) for e in self._entries if e.seq > seq]

    def drop(self, acked: int) -> None:
        """Forget every batch up to ``acked`` (it is in a complete part)."""
        while self._entries and self._entries[0].seq <= acked:
            self._forget(self._entries.popleft())

    def take_all(self) -> list[Parcel]:
        """Everything, acknowledged at once (an in-process caller loses nothing in transit)."""
        out = [_parcel(e) for e in self._entries]
        while self._entries:
            self._forget(self._entries.popleft())
        return out

    def close(self) -> None:
        if self._spill_dir is not None:
            shutil.rmtree(self._spill_dir, ignore_errors=True)
            self._spill_dir = None

    def _forget(self, e: _Entry) -> None:
        if e.batch is not None:
            self._in_memory -= e.nbytes
        elif e.path is not None:
            os.unlink(e.path)

    def _spill_over(self) -> None:
        """Spill the oldest in-memory batches (never the newest) beyond the bound."""
        for e in self._entries:
            if self._in_memory <= self.max_bytes or e is self._entries[-1]:
                return
            if e.batch is None:
                continue
            if self._spill_dir is None:
                self._spill_dir = tempfile.mkdtemp(prefix="loadray-outbox-")
            e.path = os.path.join(self._spill_dir, f"{e.seq:08d}.arrow")
            _write(e.path, e.batch)
            self._in_memory -= e.nbytes
            e.batch = None
            self.spilled_batches += 1


def _write(path: str, batch: pa.RecordBatch) -> None:
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, batch.schema) as writer:
        writer.write_batch(batch)


def _read(path: str) -> pa.RecordBatch:
    with pa.OSFile(path, "rb") as source:  # read into memory: the file goes when acknowledged
        return pa.ipc.open_file(source).get_batch(0)


def _parcel(e: _Entry) -> Parcel:
    """``e`` as handed out: its batch, read back from disk when it was spilled."""
    if e.batch is not None:
        return Parcel(e.seq, e.batch, e.arrivals)
    assert e.path is not None  # an entry is in memory or spilled
    return Parcel(e.seq, _read(e.path), e.arrivals)
