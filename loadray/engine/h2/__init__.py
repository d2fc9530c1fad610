"""HTTP/2 for flow steps (``http: {version: 2}``), on the sans-IO ``h2`` library.

- :mod:`.exchange`: one request as a stream, and what the flow runner awaits;
- :mod:`.conn`: one connection (asyncio Protocol + ``h2``), many streams;
- :mod:`.pool`: the few connections of one origin, its queue and timeouts;
- :mod:`.client`: the :class:`~loadray.engine.flow_client.StepClient` on top;
- :mod:`.versions`: a flow mixing HTTP/1.1 and HTTP/2 steps.
"""

from loadray.engine.h2.client import H2Client
from loadray.engine.h2.versions import SplitSession, VersionedClient

__all__ = ["H2Client", "SplitSession", "VersionedClient"]
