"""YAML file or dict -> frozen, validated :class:`Scenario`.

Every mistake raises :class:`ScenarioError` naming the YAML path (``load.phases[1].rate``)
or, for unreadable files and bad YAML syntax, ``file:line:column``. No other exception
escapes :func:`load_scenario` or :func:`parse_scenario`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import yaml

from loadray.errors import ScenarioError
from loadray.flow.retry import NO_RETRY, compile_retry
from loadray.redaction import redact_text
from loadray.scenario.breakers import parse_breakers
from loadray.scenario.feeds import parse_feeders
from loadray.scenario.fields import (
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
from loadray.scenario.flows import FlowContext, parse_flows
from loadray.scenario.http_settings import parse_http
from loadray.scenario.live import parse_alerts, parse_live
from loadray.scenario.model import (
    DEFAULT_LIVE_WINDOW_S,
    DEFAULT_ON_WORKER_LOSS,
    DEFAULT_WORKERS,
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

ROOT_KEYS = (
    "name", "target", "workers", "transport", "seed", "trace", "load", "http", "retry",
    "feeders", "requests", "flows", "thresholds", "cluster", "abort_when", "on_worker_loss",
    "alerts", "live",
)
TRANSPORTS = ("auto", "fast", "aiohttp")
WORKER_LOSS = ("redistribute", "restart", "abort")
MAX_WORKERS = 1024
MIN_LEASE_S, MAX_LEASE_S = 0.5, 60.0


def load_scenario(path: str | os.PathLike[str], overrides: Iterable[str] = ()) -> Scenario:
    """Read the YAML file at ``path``, apply ``--set`` overrides, validate.

    ``name`` defaults to the file's stem; files the scenario names (feeders, TLS) are
    found relative to the scenario file's folder."""
    return parse_scenario(
        read_yaml(path), overrides, default_name=Path(path).stem, base_dir=Path(path).parent
    )


def parse_scenario(
    doc: Any,
    overrides: Iterable[str] = (),
    default_name: str = "scenario",
    base_dir: str | os.PathLike[str] = ".",
) -> Scenario:
    """Validate a scenario document (as loaded from YAML) after applying ``overrides``.

    Relative file paths (feeders, TLS) are resolved against ``base_dir``.
    ``Scenario.source`` is the resolved document, with ``name`` filled in and file paths
    as written, so that ``parse_scenario(scn.source, base_dir=...) == scn``."""
    if not isinstance(doc, dict):
        raise ScenarioError(ROOT, f"must be a mapping, got {show(doc)}")
    source = apply_overrides(doc, overrides)
    folder = os.fspath(base_dir)
    fields = Fields(source, "", ROOT_KEYS)
    name = redact_text(fields.get("name", scenario_name, default_name))
    target = fields.get("target", parse_target)
    workers = fields.get("workers", integer(ge=1, le=MAX_WORKERS), DEFAULT_WORKERS)
    transport = fields.get("transport", choice(*TRANSPORTS), "auto")
    seed = fields.get("seed", integer(ge=0), 0)
    model, phases, think = fields.get("load", parse_load)
    on_worker_loss = fields.get("on_worker_loss", choice(*WORKER_LOSS), DEFAULT_ON_WORKER_LOSS)
    http = fields.get("http", lambda v, p: parse_http(v, p, folder), HttpSettings())
    context = FlowContext(
        feeds=fields.get("feeders", lambda v, p: parse_feeders(v, p, folder), ()),
        retry=fields.get("retry", compile_retry, NO_RETRY),
    )
    flows = parse_traffic(fields, context)
    scenario = Scenario(
        name=name,
        target=target,
        phases=phases,
        workers=workers,
        model=model,  # type: ignore[arg-type]
        transport=transport,  # type: ignore[arg-type]
        http=http,
        thresholds=fields.get("thresholds", parse_thresholds, ()),
        cluster=fields.get("cluster", parse_cluster, ClusterSettings()),
        seed=seed,
        source={"name": name, **source},
        breakers=fields.get("abort_when", parse_breakers, ()),
        on_worker_loss=on_worker_loss,  # type: ignore[arg-type]
        alert_webhook=fields.get("alerts", parse_alerts, None),
        live_window_s=fields.get("live", parse_live, DEFAULT_LIVE_WINDOW_S),
        flows=flows,
        feeds=context.feeds,
        think=think,
        trace=fields.get("trace", boolean, True),
    )
    check_transport(scenario)
    return scenario


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


def scenario_name(value: Any, path: str) -> str:
    name = string(value, path)
    if any(c in name for c in "/\\") or not name.isprintable():
        raise ScenarioError(path, f"must not contain slashes or control characters, got {name!r}")
    return name


def parse_cluster(value: Any, path: str) -> ClusterSettings:
    fields = Fields(value, path, ("worker_cpus", "lease"))
    default = ClusterSettings()
    lease = fields.get("lease", duration(), default.lease_s)
    if not MIN_LEASE_S <= lease <= MAX_LEASE_S:
        raise ScenarioError(f"{path}.lease", f"must be between {MIN_LEASE_S:g}s and {MAX_LEASE_S:g}s, got {lease:g}s")
    return ClusterSettings(worker_cpus=fields.get("worker_cpus", number(gt=0), default.worker_cpus), lease_s=lease)


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """The parsed YAML document; unreadable files and syntax errors as ScenarioError."""
    where = os.fspath(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ScenarioError(where, "no such file") from None
    except IsADirectoryError:
        raise ScenarioError(where, "is a directory, not a scenario file") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(where, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    except OSError as exc:
        raise ScenarioError(where, f"cannot read: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(where, exc) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(where, text, exc) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise ScenarioError(where, f"invalid YAML: {_one_line(str(exc))}") from None


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key repeated in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable key: let SafeLoader report it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def _yaml_error(where: str, exc: yaml.MarkedYAMLError) -> ScenarioError:
    mark = exc.problem_mark or exc.context_mark
    location = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark else where
    problem = exc.problem or exc.context or "syntax error"
    return ScenarioError(location, f"invalid YAML: {_one_line(problem)}")


def _reader_error(where: str, text: str, exc: yaml.reader.ReaderError) -> ScenarioError:
    line = text.count("\n", 0, exc.position) + 1
    column = exc.position - text.rfind("\n", 0, exc.position)
    character = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return ScenarioError(
        f"{where}:{line}:{column}",
        f"invalid YAML: unacceptable character #x{character:04x}: {exc.reason}",
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())
