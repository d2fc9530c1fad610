"""The end of a run's storage: after it, no part joins the run.

Workers write their parts straight to the run's storage; the driver lists them in the
manifest. A worker cut off from the driver (a partition) may still reach the storage
and complete a part after the driver's final listing. The driver therefore *closes*
the run before that listing: it writes ``samples/_closed``, and a worker checks for it
right before it completes each part (:class:`~.part_series.PartSeries`), so a part
that would come too late is never completed (its rows stay with the worker, and the
run counts them as ``unknown``, as it does for any worker that never answered).

A worker that checked just before the driver wrote the mark can still complete one
part after the listing: the complete manifest (``"complete": true``) is then the
truth, and every loadray reader reads exactly the parts it lists (such a part is in
:attr:`~.reader.RunMeta.unlisted`, not read). ``planned = rows + lost + unknown`` holds
for every reader either way.
"""

from __future__ import annotations

import contextlib
import json

from loadray.errors import ArchiveError

from .fs import RunLocation
from .rundir import SAMPLES_DIR

__all__ = ["CLOSED_FILE", "RunClosed", "close_run", "is_closed"]

CLOSED_FILE = "_closed"


class RunClosed(ArchiveError):
    """The run's storage was closed by its driver: this part is not part of the run."""


def close_run(loc: RunLocation, at_ns: int) -> bool:
    """Write the mark (best effort: an unreachable store or a full disk skip it, and
    the complete manifest alone decides then); True when written."""
    with contextlib.suppress(OSError, ArchiveError):
        loc.write_bytes(json.dumps({"closed_ns": int(at_ns)}).encode(), SAMPLES_DIR, CLOSED_FILE)
        return True
    return False


def is_closed(loc: RunLocation) -> bool:
    """Whether the driver closed the run (a store that cannot be asked: not closed,
    the complete manifest decides later)."""
    try:
        return loc.is_file(SAMPLES_DIR, CLOSED_FILE)
    except (OSError, ArchiveError):
        return False
