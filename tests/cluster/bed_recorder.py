"""The bed's target: an aiohttp server on the bridge address that records every arrival.

Run as its own process in the root namespace (``python bed_recorder.py LISTEN_IP LOG``); it
prints one JSON line ``{"port": P, "control": C, "grpc": G}`` when it listens. Every request
on ``LISTEN_IP:P`` is answered 200 and counted by source address and arrival time: HTTP/1.1
(aiohttp) and HTTP/2 with prior knowledge (h2c, the built-in target's
:class:`~loadray.target.h2_server.H2ServerConn`: a stream counts when its request is
complete); every call of the built-in gRPC target (:class:`~loadray.target.grpc_server.GrpcTarget`,
``Unary``/``Stream``) on ``LISTEN_IP:G`` likewise, once its call starts (``G`` is null when
grpcio is missing). Given a folder of TLS material (:mod:`bed_tls`), it also serves
all of that over TLS: HTTP/1.1 and h2 (ALPN) on ``LISTEN_IP:T``, gRPC on ``LISTEN_IP:GS``
(``{"tls": T, "grpcs": GS}`` in the line). The control site on 127.0.0.1:C serves
``GET /stats`` and ``POST /reset`` (never counted). :class:`Recorder` is the tests' side:
it starts the process, reads and resets counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from bed_tls import ServerPki, make_server_pki, server_context

HERE = Path(__file__).resolve()


class Arrivals:
    """Per source: arrivals per epoch second, first/last arrival time, total."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.per_second: dict[str, Counter[int]] = defaultdict(Counter)
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def add(self, source: str, at: float) -> None:
        self.per_second[source][int(at)] += 1
        self.first.setdefault(source, at)
        self.last[source] = at

    def doc(self) -> dict:
        return {source: {"total": sum(c.values()), "first": self.first[source], "last": self.last[source],
                         "per_second": {str(s): n for s, n in sorted(c.items())}}
                for source, c in self.per_second.items()}


def peer_ip(peer: str) -> str:
    """The address of a gRPC peer string (``ipv4:10.77.0.3:51234``, ``ipv6:[::1]:5``)."""
    kind, _, rest = peer.partition(":")
    host = rest.rsplit(":", 1)[0] if kind in ("ipv4", "ipv6") else rest
    return host.strip("[]") or "?"


def _recording_h2(arrivals: Arrivals):
    """The built-in target's HTTP/2 connection, counting each complete request by its source."""
    from loadray.target.h2_server import H2ServerConn

    class RecordingH2(H2ServerConn):
        def _request(self, sid: int) -> None:
            if sid in self.streams:
                peer = self.transport.get_extra_info("peername")
                arrivals.add(peer[0] if peer else "?", time.time())
            super()._request(sid)

    return RecordingH2


async def _start_grpc(listen_ip: str, arrivals: Arrivals, pki: ServerPki | None = None):
    """The built-in gRPC target on ``listen_ip`` (over TLS with ``pki``), counting each
    call by its source; None without grpcio."""
    try:
        from loadray.target.grpc_server import GrpcTarget
    except ImportError:
        return None
    from loadray.target.options import TargetOptions

    class RecordingGrpc(GrpcTarget):
        async def _ready(self, context, code: int) -> float:
            arrivals.add(peer_ip(context.peer()), time.time())
            return await super()._ready(context, code)

    tls = None if pki is None else (pki.cert.read_bytes(), pki.key.read_bytes())
    target = RecordingGrpc(TargetOptions(host=listen_ip, grpc_port=0), tls=tls)
    await target.start()
    return target


def serve(listen_ip: str, pki: ServerPki | None = None) -> None:
    import asyncio

    from aiohttp import web

    from loadray.target.h2_server import Both, H2Stats
    from loadray.target.options import TargetOptions
    from loadray.target.server import TargetServer

    arrivals = Arrivals()
    answers = TargetServer(TargetOptions(host=listen_ip))  # never started: answers HTTP/2 streams 200 ok
    h2_conn, h2_stats = _recording_h2(arrivals), H2Stats()

    async def hit(request: web.BaseRequest) -> web.Response:
        arrivals.add(request.remote or "?", time.time())
        return web.Response(text="ok")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"now": time.time(), "sources": arrivals.doc()})

    async def reset(request: web.Request) -> web.Response:
        arrivals.reset()
        return web.json_response({"reset": time.time()})

    async def main() -> None:
        # HTTP/1.1 to ``hit``, a connection that opens with the HTTP/2 preface to ``h2_conn``
        load = Both(web.Server(hit, access_log=None), lambda: h2_conn(answers, h2_stats))
        control = web.Application()
        control.router.add_get("/stats", stats)
        control.router.add_post("/reset", reset)
        runners = [web.ServerRunner(load), web.AppRunner(control, access_log=None)]
        ports = []
        for runner, host in zip(runners, (listen_ip, "127.0.0.1")):
            await runner.setup()
            site = web.TCPSite(runner, host, 0, backlog=1024)
            await site.start()
            ports.append(site._server.sockets[0].getsockname()[1])
        grpc_targets = [await _start_grpc(listen_ip, arrivals)]
        line = {"port": ports[0], "control": ports[1]}
        if pki is not None:
            site = web.TCPSite(runners[0], listen_ip, 0, backlog=1024, ssl_context=server_context(pki))
            await site.start()
            line["tls"] = site._server.sockets[0].getsockname()[1]
            grpc_targets.append(await _start_grpc(listen_ip, arrivals, pki))
        for key, target in zip(("grpc", "grpcs"), grpc_targets):
            line[key] = None if target is None else int(target.address.rsplit(":", 1)[1])
        print(json.dumps(line), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


@dataclass(frozen=True)
class SourceStats:
    total: int
    first: float
    last: float
    per_second: dict[int, int]


class Recorder:
    """The recorder process, started and ended (by PID) by the bed."""

    def __init__(self, listen_ip: str, log: Path) -> None:
        self.listen_ip = listen_ip
        self._log = open(log, "w")
        # the log's path (in the bed's directory) marks the process as the bed's
        # TLS material for the recorder's address, in the bed's directory
        (log.parent / "tls").mkdir(exist_ok=True)
        self.pki = make_server_pki(log.parent / "tls", listen_ip)
        self.proc = subprocess.Popen([sys.executable, str(HERE), listen_ip, str(log), str(log.parent / "tls")],
                                     stdout=subprocess.PIPE, stderr=self._log, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"recorder did not start: see {log}")
        ports = json.loads(line)
        self.port, self.control = ports["port"], ports["control"]
        self.url = f"http://{listen_ip}:{self.port}"  # HTTP/1.1 and h2c (prior knowledge)
        self.tls_url = f"https://{listen_ip}:{ports['tls']}"  # HTTP/1.1 and h2 (ALPN) over TLS; trust pki.ca
        grpc_port, grpcs_port = ports.get("grpc"), ports.get("grpcs")
        self.grpc_address = None if grpc_port is None else f"{listen_ip}:{grpc_port}"
        self.grpcs_address = None if grpcs_port is None else f"grpcs://{listen_ip}:{grpcs_port}"

    def _call(self, method: str, path: str) -> dict:
        req = urllib.request.Request(f"http://127.0.0.1:{self.control}{path}", method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def reset(self) -> None:
        self._call("POST", "/reset")

    def stats(self) -> dict[str, SourceStats]:
        doc = self._call("GET", "/stats")["sources"]
        return {src: SourceStats(d["total"], d["first"], d["last"],
                                 {int(s): n for s, n in d["per_second"].items()})
                for src, d in doc.items()}

    def total(self) -> int:
        return sum(s.total for s in self.stats().values())

    def per_second(self) -> dict[int, int]:
        """Arrivals per epoch second, all sources together."""
        out: Counter[int] = Counter()
        for s in self.stats().values():
            out.update(s.per_second)
        return dict(sorted(out.items()))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


if __name__ == "__main__":
    serve(sys.argv[1], ServerPki.at(Path(sys.argv[3])) if len(sys.argv) > 3 else None)
