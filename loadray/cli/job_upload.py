"""What ``loadray submit`` uploads: the scenario, resolved (``--set`` applied), with
every file it names (feeders, TLS files) copied next to it and renamed to
``files/<role>-<name>``, so the job's working directory holds all a run needs (a gRPC
step's ``.proto`` and its imports as the compiled set, ``files/grpc<k>.protoset``). The
copy is loaded once more before anything is sent: it must load as the original did."""

from __future__ import annotations

import copy
import shlex
import shutil
from pathlib import Path
from typing import Any

import yaml

from loadray.scenario import load_scenario
from loadray.scenario.model import Scenario

SCENARIO = "scenario.yaml"
FILES = "files"
TLS_KEYS = (("ca", "ca_file"), ("cert", "cert_file"), ("key", "key_file"))


def stage(scenario: Scenario, folder: Path, overrides: list[str]) -> list[str]:
    """Write the upload into the empty ``folder``; returns the ``--set`` overrides the
    job must repeat (``limits.*``: they govern how the uploaded file is read)."""
    doc: dict[str, Any] = copy.deepcopy(scenario.source)
    for i, feed in enumerate(scenario.feeds):
        doc["feeders"][i]["file"] = _copy(feed.spec.file, folder, f"feeder{i}")
    tls = scenario.http.tls
    for key, attr in TLS_KEYS:
        if getattr(tls, attr):
            doc["http"]["tls"][key] = _copy(getattr(tls, attr), folder, f"tls-{key}")
    _protosets(scenario, doc, folder)
    (folder / SCENARIO).write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    repeat = [o for o in overrides if o.partition("=")[0].strip().startswith("limits.")]
    load_scenario(folder / SCENARIO, repeat)
    return repeat


def _protosets(scenario: Scenario, doc: dict[str, Any], folder: Path) -> None:
    """Each gRPC step given a ``proto`` file names its compiled set instead."""
    if "requests" in doc:
        items = [(doc["requests"][i], flow.steps[0]) for i, flow in enumerate(scenario.flows)]
    else:
        items = [(doc["flows"][i]["steps"][j], step) for i, flow in enumerate(scenario.flows)
                 for j, step in enumerate(flow.steps)]
    for k, (item, step) in enumerate(items):
        if step.grpc is not None and "proto" in item["grpc"]:
            rel = Path(FILES) / f"grpc{k}.protoset"
            (folder / FILES).mkdir(exist_ok=True)
            (folder / rel).write_bytes(step.grpc.protos)
            item["grpc"]["proto"] = rel.as_posix()


def _copy(source: str, folder: Path, role: str) -> str:
    rel = Path(FILES) / f"{role}-{Path(source).name}"
    (folder / FILES).mkdir(exist_ok=True)
    shutil.copyfile(source, folder / rel)
    return rel.as_posix()


def entrypoint(job_id: str, fetch_limit: int, overrides: list[str], quiet: bool, out: str | None = None) -> str:
    """The job's shell command: :mod:`loadray.cli.job_entry` around ``loadray run``
    (``out``: a storage URI loadray writes the run to)."""
    run = [SCENARIO, *[a for o in overrides for a in ("--set", o)], *(["--quiet"] if quiet else [])]
    where = ["--out", out] if out is not None else []
    argv = ["python", "-m", "loadray.cli.job_entry", "--id", job_id, "--fetch-limit", str(fetch_limit), *where,
            "--", *run]
    return shlex.join(argv)
