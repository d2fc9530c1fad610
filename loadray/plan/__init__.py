"""Pure load planning: phases -> rate(t) and intended times; the split across workers."""

from loadray.plan.profile import Profile, Segment
from loadray.plan.split import Chunk, worker_chunks, worker_share

__all__ = ["Chunk", "Profile", "Segment", "worker_chunks", "worker_share"]
