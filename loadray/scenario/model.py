"""Frozen, validated scenario objects. Built only by :mod:`loadray.scenario.loader`.

Times are float seconds; rates are cluster-wide requests per second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from loadray.flow.checks import Check
from loadray.flow.extract import Extractor
from loadray.flow.feeders import FeederSpec, Row
from loadray.flow.json_templates import JsonTemplate
from loadray.flow.retry import NO_RETRY, RetryPolicy
from loadray.flow.templates import Template
from loadray.grpc.call import GrpcCall
from loadray.metric import Breaker, Threshold  # noqa: F401  (re-exported: a Scenario holds them)
from loadray.scenario.limits import Limits
from loadray.stream.spec import StreamSpec
from loadray.target.options import TargetOptions

Model = Literal["open", "closed"]
TransportKind = Literal["auto", "fast", "aiohttp"]  # which transport sends (engine.transport_choice)
TRANSPORT_KINDS: tuple[TransportKind, ...] = ("auto", "fast", "aiohttp")
WhenFull = Literal["queue", "drop"]
WorkerLoss = Literal["redistribute", "restart", "abort"]

DEFAULT_WORKERS = 2
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_IN_FLIGHT = 1000
DEFAULT_WORKER_CPUS = 1.0
DEFAULT_ON_WORKER_LOSS: WorkerLoss = "redistribute"
DEFAULT_LIVE_WINDOW_S = 10.0
DEFAULT_MAX_BODY = 1 << 20  # bytes of a response a check or an extraction may read
DEFAULT_H2_CONNECTIONS = 1  # HTTP/2 connections per origin per worker (streams multiplex on them)


@dataclass(frozen=True)
class Phase:
    """One expanded load phase: constant ``rate`` or a linear ramp ``rate`` -> ``to``.

    In the closed model ``rate`` and ``to`` are cluster-wide virtual-user counts.

    ``source`` is the index of the YAML phase it came from (a ``steps`` phase expands
    into several constant phases sharing one source).
    """

    duration_s: float
    rate: float
    to: float | None = None
    source: int = 0

    @property
    def end_rate(self) -> float:
        return self.rate if self.to is None else self.to


@dataclass(frozen=True)
class Body:
    """A step's request body: ``json`` (a JSON template, sent as application/json),
    ``form`` (a JSON template of a flat mapping, sent url-encoded) or ``raw`` (a text
    template, sent as is)."""

    kind: Literal["json", "form", "raw"]
    template: JsonTemplate | Template


@dataclass(frozen=True)
class Step:
    """One request of a flow. ``path`` is a template of a path (``/orders/{{ id }}``,
    joined to the target URL) or of an absolute ``http(s)://`` URL."""

    name: str
    path: Template
    method: str = "GET"
    query: tuple[tuple[str, Template], ...] = ()
    headers: tuple[tuple[str, Template], ...] = ()
    body: Body | None = None
    timeout_s: float | None = None  # overrides http.timeout for this step
    extract: tuple[Extractor, ...] = ()
    checks: tuple[Check, ...] = ()
    retry: RetryPolicy = NO_RETRY
    stop_on_failure: bool = True  # a failed step ends its flow instance
    max_body: int | None = None  # bytes kept for checks/extraction; None: http.max_body
    http_version: int = 1  # 2: sent on HTTP/2 (the step's or the scenario's ``http.version``)
    grpc: GrpcCall | None = None  # a gRPC call (path: its method path, headers: metadata, body: the message)
    stream: StreamSpec | None = None  # record each chunk's arrival (loadray.scenario.stream_step)

    @property
    def literal(self) -> bool:
        """No variable anywhere (path, query, headers, body): every attempt renders to
        the same request."""
        templates: list[Template | JsonTemplate] = [self.path, *(t for _, t in self.query),
                                                    *(t for _, t in self.headers)]
        if self.body is not None:
            templates.append(self.body.template)
        return all(t.literal for t in templates)

    @property
    def static(self) -> bool:
        """Sendable as fixed bytes: no variables, no extraction, checks or retries."""
        return (
            self.literal
            and self.grpc is None
            and not self.extract
            and not self.checks
            and self.retry.max_attempts == 1
            and self.timeout_s is None
            and self.stream is None
        )


@dataclass(frozen=True)
class Flow:
    """An ordered list of steps; one arrival (open model) or one user iteration (closed
    model) runs one instance. A plain ``requests:`` entry is a flow of one step."""

    name: str
    steps: tuple[Step, ...]
    weight: float = 1.0

    @property
    def row_names(self) -> tuple[str, ...]:
        """The names its rows carry in their ``step`` column: the flow's name for a
        one-step flow (a plain request), else ``FLOW/STEP``."""
        if len(self.steps) == 1:
            return (self.name,)
        return tuple(f"{self.name}/{step.name}" for step in self.steps)


@dataclass(frozen=True)
class Feed:
    """A data feeder with its rows (read at validation, shipped to the workers)."""

    spec: FeederSpec
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Think:
    """Think time between a closed-model user's iterations: ``constant`` (``a`` s),
    ``uniform`` (between ``a`` and ``b`` s) or ``exponential`` (mean ``a`` s)."""

    kind: Literal["constant", "uniform", "exponential"] = "constant"
    a: float = 0.0
    b: float = 0.0


@dataclass(frozen=True)
class TlsSettings:
    verify: bool = True
    ca_file: str | None = None  # PEM bundle to trust in addition to the system's
    cert_file: str | None = None  # client certificate (PEM)
    key_file: str | None = None  # its private key (PEM); None: inside cert_file


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT  # per worker; also the connection cap
    keepalive: bool = True
    when_full: WhenFull = "queue"  # queue: wait for a free slot; drop: record "dropped"
    headers: tuple[tuple[str, str], ...] = ()  # sent with every request
    tls: TlsSettings = field(default_factory=TlsSettings)
    redirects: int = 0  # redirects followed per request (0: a 3xx is the answer)
    compression: bool = False  # send Accept-Encoding: gzip, deflate and decode
    max_body: int = DEFAULT_MAX_BODY  # bytes of a response kept for checks/extraction
    version: int = 1  # HTTP version of every step that does not set its own (1 or 2)
    connections: int = DEFAULT_H2_CONNECTIONS  # HTTP/2: connections per origin per worker


@dataclass(frozen=True)
class Target:
    """Either a base URL (``http://127.0.0.1:8080``) or a built-in target to start."""

    url: str | None = None
    builtin: TargetOptions | None = None


DEFAULT_LEASE_S = 1.5
LOSS_MARGIN_S = 1.0  # a worker is declared lost this long after its lease could have ended
RENEWALS_PER_LEASE = 6


@dataclass(frozen=True)
class ClusterSettings:
    """``lease``: a worker sends only while a renewal the coordinator acknowledged is
    younger than this; the coordinator declares it lost ``LOSS_MARGIN_S`` later."""

    worker_cpus: float = DEFAULT_WORKER_CPUS
    lease_s: float = DEFAULT_LEASE_S

    @property
    def loss_timeout_s(self) -> float:
        return self.lease_s + LOSS_MARGIN_S

    @property
    def renew_interval_s(self) -> float:
        return self.lease_s / RENEWALS_PER_LEASE


@dataclass(frozen=True)
class Scenario:
    name: str
    target: Target
    phases: tuple[Phase, ...]
    workers: int = DEFAULT_WORKERS
    model: Model = "open"
    transport: TransportKind = "auto"
    http: HttpSettings = field(default_factory=HttpSettings)
    thresholds: tuple[Threshold, ...] = ()
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    seed: int = 0
    # The YAML document after --set overrides, for archiving: ${VAR} references as
    # written (see loadray.scenario.environment), so it holds no environment secret.
    source: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    breakers: tuple[Breaker, ...] = ()
    on_worker_loss: WorkerLoss = DEFAULT_ON_WORKER_LOSS
    alert_webhook: str | None = None  # one JSON POST per live breach
    archive: str | None = None  # where runs go: a local directory or a storage URI (--out wins)
    live_window_s: float = DEFAULT_LIVE_WINDOW_S  # sliding window for live thresholds
    # Every flow, plain ``requests`` entries included (each a one-step flow).
    flows: tuple[Flow, ...] = ()
    feeds: tuple[Feed, ...] = ()
    think: Think = field(default_factory=Think)  # closed model only
    trace: bool = True  # W3C traceparent on every logical request
    limits: Limits = field(default_factory=Limits)  # upper bounds (also for live control)
    # Values taken from the environment for secret ${VAR} references: masked in every
    # artefact and line printed (never shown, not compared: the same scenario either way).
    secrets: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @property
    def simple(self) -> bool:
        """Every flow is one static step in the open model: the fast path can send it."""
        return (
            self.model == "open"
            and not self.feeds
            and all(len(f.steps) == 1 and f.steps[0].static and f.steps[0].http_version == 1 for f in self.flows)
        )

    @property
    def duration_s(self) -> float:
        return sum(p.duration_s for p in self.phases)

