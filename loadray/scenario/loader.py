"""YAML file or dict -> frozen, validated :class:`Scenario`.

Every mistake raises :class:`ScenarioError` naming the YAML path (``load.phases[1].rate``)
or, for unreadable files and bad YAML syntax, ``file:line:column``. No other exception
escapes :func:`load_scenario` or :func:`parse_scenario`.

Order: the ``limits`` (with their ``--set`` overrides) -> the document's shape (aliases,
depth, value types) -> the other overrides -> ``${VAR}`` references (see
:mod:`.environment`) -> every field -> the upper bounds. A scenario that loads can be
planned and run: nothing later overflows.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import (
    ROOT,
    Fields,
    boolean,
    choice,
    duration,
    integer,
    number,
    show,
    string,
)
from loadray.flow.retry import NO_RETRY, compile_retry
from loadray.redaction import redact_text
from loadray.scenario.archive import parse_archive
from loadray.scenario.bounds import check_bounds
from loadray.scenario.breakers import parse_breakers
from loadray.scenario.document import check_document
from loadray.scenario.environment import resolve_env
from loadray.scenario.feeds import parse_feeders
from loadray.scenario.flows import FlowContext, parse_flows
from loadray.scenario.http_settings import parse_http
from loadray.scenario.http_version import check_http2
from loadray.scenario.limits import KEY as LIMITS
from loadray.scenario.limits import Limits, resolve_limits
from loadray.scenario.live import parse_alerts, parse_live
from loadray.scenario.masking import mask_error, mask_secrets
from loadray.scenario.model import (
    DEFAULT_LIVE_WINDOW_S,
    DEFAULT_ON_WORKER_LOSS,
    DEFAULT_WORKERS,
    TRANSPORT_KINDS,
    ClusterSettings,
    Flow,
    HttpSettings,
    Scenario,
)
from loadray.scenario.overrides import apply_overrides
from loadray.scenario.phases import parse_load
from loadray.scenario.request_specs import parse_requests
from loadray.scenario.targets import parse_target
from loadray.scenario.thresholds import parse_thresholds
from loadray.scenario.transport_rules import check_transport
from loadray.scenario.yaml_load import read_yaml

ROOT_KEYS = (
    "name", "target", "workers", "transport", "seed", "trace", "load", "http", "retry",
    "feeders", "requests", "flows", "thresholds", "cluster", "abort_when", "on_worker_loss",
    "alerts", "live", "archive", LIMITS,
)
WORKER_LOSS = ("redistribute", "restart", "abort")
MAX_WORKERS = 1024
MIN_LEASE_S, MAX_LEASE_S = 0.5, 60.0
MAX_SEED = 2**63 - 1
MAX_WORKER_CPUS = 1024
SIZE_FLAG = "raise it with --set limits.max_scenario_size=SIZE"


def load_scenario(
    path: str | os.PathLike[str], overrides: Iterable[str] = (), environ: Mapping[str, str] | None = None,
) -> Scenario:
    """Read the YAML file at ``path``, apply ``--set`` overrides, resolve ``${VAR}``
    from ``environ`` (default: ``os.environ``), validate.

    ``name`` defaults to the file's stem; files the scenario names (feeders, TLS) are
    found relative to the scenario file's folder. The file may be at most
    ``limits.max_scenario_size`` (only ``--set`` can raise it: it is read first)."""
    overrides = tuple(overrides)
    first = resolve_limits({}, overrides)
    doc = read_yaml(path, first.max_scenario_size, SIZE_FLAG)
    return _parse(doc, overrides, Path(path).stem, Path(path).parent, copied=False, environ=environ)


def parse_scenario(
    doc: Any,
    overrides: Iterable[str] = (),
    default_name: str = "scenario",
    base_dir: str | os.PathLike[str] = ".",
    environ: Mapping[str, str] | None = None,
) -> Scenario:
    """Validate a scenario document (as loaded from YAML) after applying ``overrides``
    and resolving ``${VAR}`` from ``environ`` (default: ``os.environ``).

    Relative file paths (feeders, TLS) are resolved against ``base_dir``.
    ``Scenario.source`` is the document as written, with ``name`` filled in, the
    overrides applied and ``${VAR}`` references kept, so that
    ``parse_scenario(scn.source, base_dir=...) == scn`` (in the same environment)."""
    return _parse(doc, tuple(overrides), default_name, base_dir, copied=True, environ=environ)


def _parse(
    doc: Any, overrides: tuple[str, ...], default_name: str, base_dir: str | os.PathLike[str],
    copied: bool, environ: Mapping[str, str] | None,
) -> Scenario:
    """``copied``: the document is the caller's (copy it) or ours (from the file)."""
    if not isinstance(doc, dict):
        raise ScenarioError(ROOT, f"must be a mapping, got {show(doc)}")
    limits = resolve_limits(doc, overrides)
    source = apply_overrides(doc, overrides) if overrides else doc
    check_document(source, limits)
    if copied:
        source = copy.deepcopy(source)  # safe now: no cycle, bounded depth and size
    resolved = resolve_env(source, os.environ if environ is None else environ)
    try:
        scenario = _build(Fields(resolved.doc, "", ROOT_KEYS), resolved.archived, default_name,
                          os.fspath(base_dir), limits)
        check_bounds(scenario)
        check_transport(scenario)
        check_http2(scenario)
        calls = [s for f in scenario.flows for s in f.steps if s.grpc is not None]
        if calls:
            from loadray.scenario.grpc_steps import check_grpc_tls  # protobuf only for gRPC steps

            check_grpc_tls(calls, scenario.target.url, scenario.http.tls.verify)
    except ScenarioError as exc:  # it may quote a value taken from the environment
        raise mask_error(exc, resolved.secrets) from None
    return mask_secrets(scenario, resolved.secrets)


def _build(fields: Fields, archived: dict[str, Any], default_name: str, folder: str, limits: Limits) -> Scenario:
    name = redact_text(fields.get("name", scenario_name, default_name))
    target = fields.get("target", parse_target)
    workers = fields.get("workers", integer(ge=1, le=MAX_WORKERS), DEFAULT_WORKERS)
    transport = fields.get("transport", choice(*TRANSPORT_KINDS), "auto")
    seed = fields.get("seed", integer(ge=0, le=MAX_SEED), 0)
    model, phases, think = fields.get("load", parse_load)
    on_worker_loss = fields.get("on_worker_loss", choice(*WORKER_LOSS), DEFAULT_ON_WORKER_LOSS)
    http = fields.get("http", lambda v, p: parse_http(v, p, folder), HttpSettings())
    context = FlowContext(
        feeds=fields.get("feeders", lambda v, p: parse_feeders(v, p, folder, limits), ()),
        retry=fields.get("retry", compile_retry, NO_RETRY),
        http_version=http.version,
        folder=folder,
    )
    flows = parse_traffic(fields, context)
    return Scenario(
        name=name,
        target=target,
        phases=phases,
        workers=workers,
        model=model,  # type: ignore[arg-type]
        transport=transport,  # type: ignore[arg-type]
        http=http,
        thresholds=fields.get("thresholds", lambda v, p: parse_thresholds(v, p, _row_names(flows)), ()),
        cluster=fields.get("cluster", parse_cluster, ClusterSettings()),
        seed=seed,
        source={"name": name, **archived},
        breakers=fields.get("abort_when", lambda v, p: parse_breakers(v, p, _row_names(flows)), ()),
        on_worker_loss=on_worker_loss,  # type: ignore[arg-type]
        alert_webhook=fields.get("alerts", parse_alerts, None),
        archive=fields.get("archive", parse_archive, None),
        live_window_s=fields.get("live", parse_live, DEFAULT_LIVE_WINDOW_S),
        flows=flows,
        feeds=context.feeds,
        think=think,
        trace=fields.get("trace", boolean, True),
        limits=limits,
    )


def parse_traffic(fields: Fields, context: FlowContext) -> tuple[Flow, ...]:
    """Exactly one of ``requests`` (one-step flows) and ``flows``."""
    if "requests" in fields and "flows" in fields:
        raise ScenarioError(
            ROOT, "has both 'requests' and 'flows'; keep one (a request is a one-step flow)"
        )
    if "flows" in fields:
        return fields.get("flows", lambda v, p: parse_flows(v, p, context))
    if "requests" not in fields:
        raise ScenarioError("requests", "is required (or 'flows', for multi-step flows)")
    return fields.get("requests", lambda v, p: parse_requests(v, p, context))


def _row_names(flows: tuple[Flow, ...]) -> list[str]:
    return [name for flow in flows for name in flow.row_names]


def scenario_name(value: Any, path: str) -> str:
    name = string(value, path)
    if any(c in name for c in "/\\") or not name.isprintable():
        raise ScenarioError(path, f"must not contain slashes or control characters, got {show(name)}")
    return name


def parse_cluster(value: Any, path: str) -> ClusterSettings:
    fields = Fields(value, path, ("worker_cpus", "lease"))
    default = ClusterSettings()
    lease = fields.get("lease", duration(), default.lease_s)
    if not MIN_LEASE_S <= lease <= MAX_LEASE_S:
        raise ScenarioError(f"{path}.lease", f"must be between {MIN_LEASE_S:g}s and {MAX_LEASE_S:g}s, got {lease:g}s")
    cpus = number(gt=0, le=MAX_WORKER_CPUS)
    return ClusterSettings(worker_cpus=fields.get("worker_cpus", cpus, default.worker_cpus), lease_s=lease)
