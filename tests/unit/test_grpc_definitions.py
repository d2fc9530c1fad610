"""Bad gRPC step definitions: one line naming the YAML path (exit 2 from the CLI);
good ones parse into the call they describe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loadray.errors import ScenarioError
from loadray.scenario import parse_scenario
from loadray.target.grpc_server import PROTO

ROOT = Path(__file__).resolve().parents[2]
TARGET = "loadray.target.Target"

EXTRA = """syntax = "proto3";
package extra;
message Inner { int32 n = 1; }
message Outer { Inner inner = 1; repeated string tags = 2; map<string, int32> counts = 3; int64 big = 4; }
service Extra {
  rpc Up(stream Outer) returns (Outer);
  rpc Echo(Outer) returns (Outer);
}
"""


def doc(grpc: dict | None = None, folder: Path | None = None, **step) -> dict:
    call = {"proto": str(PROTO), "service": TARGET, "method": "Unary", **(grpc or {})}
    return {
        "name": "g", "target": "http://127.0.0.1:50051",
        "load": {"phases": [{"duration": "1s", "rate": 1}]},
        "requests": [{"name": "call", "grpc": {k: v for k, v in call.items() if v is not None}, **step}],
    }


@pytest.fixture
def extra(tmp_path: Path) -> Path:
    (tmp_path / "extra.proto").write_text(EXTRA)
    (tmp_path / "broken.proto").write_text('syntax = "proto3";\nmessage A { strin x = 1; }\n')
    return tmp_path


CASES = [
    # (grpc block changes, step keys, YAML path, message fragment)
    ({"proto": "nowhere.proto"}, {}, "requests[0].grpc.proto", "no such file"),
    ({"proto": "broken.proto"}, {}, "requests[0].grpc.proto", "does not compile: broken.proto:2"),
    ({"proto": None}, {}, "requests[0].grpc.proto", "is required"),
    ({"service": "loadray.target.Nope"}, {}, "requests[0].grpc.service",
     "no service 'loadray.target.Nope' in the proto (services: loadray.target.Target)"),
    ({"method": "Nope"}, {}, "requests[0].grpc.method", "has no method 'Nope' (methods: Stats, Stream, Unary)"),
    ({"message": {"txt": "x"}}, {}, "requests[0].grpc.message.txt",
     "loadray.target.Request has no field 'txt' (fields: text, code)"),
    ({"message": {"code": "abc"}}, {}, "requests[0].grpc.message.code", "not a valid int32"),
    ({"message": {"text": ["a"]}}, {}, "requests[0].grpc.message.text", "not a valid string"),
    ({"message": "hello"}, {}, "requests[0].grpc.message", "must be a mapping of the fields of loadray.target.Request"),
    ({"proto": "extra.proto", "service": "extra.Extra", "method": "Up"}, {}, "requests[0].grpc.method",
     "is client-streaming"),
    ({"proto": "extra.proto", "service": "extra.Extra", "method": "Echo", "message": {"inner": {"m": 1}}}, {},
     "requests[0].grpc.message.inner.m", "extra.Inner has no field 'm'"),
    ({"proto": "extra.proto", "service": "extra.Extra", "method": "Echo", "message": {"inner": {"n": "x"}}}, {},
     "requests[0].grpc.message.inner.n", "not a valid int32"),
    ({"proto": "extra.proto", "service": "extra.Extra", "method": "Echo", "message": {"tags": "a"}}, {},
     "requests[0].grpc.message.tags", "must be a list (repeated field tags)"),
    ({"proto": "extra.proto", "service": "extra.Extra", "method": "Echo", "message": {"counts": {"a": "x"}}}, {},
     "requests[0].grpc.message.counts.a", "not a valid int32"),
    ({"metadata": {"content-type": "x"}}, {}, "requests[0].grpc.metadata.content-type", "reserved by gRPC"),
    ({"metadata": {"grpc-timeout": "1S"}}, {}, "requests[0].grpc.metadata.grpc-timeout", "reserved by gRPC"),
    ({"metadata": {"token-bin": "x"}}, {}, "requests[0].grpc.metadata.token-bin", "binary (-bin) metadata"),
    ({"address": "http://127.0.0.1:1"}, {}, "requests[0].grpc.address", "must be host:port, grpc://host:port"),
    ({"address": "127.0.0.1:70000"}, {}, "requests[0].grpc.address", "must be host:port"),
    ({"channels": 0}, {}, "requests[0].grpc.channels", "must be >= 1"),
    ({"deadline": "1s"}, {}, "requests[0].grpc", "unknown key 'deadline'"),
    ({}, {"path": "/x"}, "requests[0].path", "is an HTTP key"),
    ({}, {"json": {"a": 1}}, "requests[0].json", "is an HTTP key"),
    ({}, {"headers": {"a": "b"}}, "requests[0].headers", "grpc.metadata, not headers"),
    ({}, {"check": {"status": 200}}, "requests[0].check.status", "must be a gRPC status code"),
    ({}, {"check": {"status": ["OK", "NOPE"]}}, "requests[0].check.status[1]", "must be a gRPC status code"),
    ({}, {"extract": {"name": "s", "source": "cookie", "expr": "s"}}, "requests[0].extract", "no cookies"),
    ({"message": {"text": "{{ nope }}"}}, {}, "requests[0].grpc.message.text", "nope"),
]


@pytest.mark.parametrize("grpc, step, path, fragment", CASES)
def test_bad_grpc_step_is_one_line_at_its_path(extra, grpc, step, path, fragment):
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(doc(grpc, **step), base_dir=extra)
    assert caught.value.path == path, str(caught.value)
    assert fragment in caught.value.message
    assert "\n" not in str(caught.value)


def test_grpc_over_tls_without_verification_is_refused():
    bad = {**doc({"address": "grpcs://127.0.0.1:50051"}), "http": {"tls": {"verify": False}}}
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(bad)
    assert caught.value.path == "http.tls.verify" and "always verifies" in caught.value.message


def test_cli_validate_names_the_path_in_one_line_and_exits_2(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "target: http://127.0.0.1:50051\nload: {phases: [{duration: 1s, rate: 1}]}\n"
        "requests:\n  - grpc: {proto: gone.proto, service: a.B, method: C}\n"
    )
    done = subprocess.run([sys.executable, "-m", "loadray", "validate", str(tmp_path / "s.yaml")],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "requests[0].grpc.proto: no such file" in lines[0], done.stderr


def test_a_good_step_parses_into_its_call(extra):
    scn = parse_scenario(doc({
        "proto": "extra.proto", "service": "extra.Extra", "method": "Echo",
        "message": {"inner": {"n": "{{ n }}"}, "tags": ["a", "{{ uuid }}"], "counts": {"a": 1}, "big": "9007199254740993"},
        "metadata": {"Authorization": "Bearer {{ uuid }}"}, "address": "grpcs://localhost:443", "channels": 3,
    }, check={"status": ["OK", 5]}), ["requests.0.grpc.message.inner.n=7"], base_dir=extra)
    step = scn.flows[0].steps[0]
    call = step.grpc
    assert (call.address, call.tls, call.service, call.method, call.streaming, call.channels) == (
        "localhost:443", True, "extra.Extra", "Echo", False, 3)
    assert call.path == "/extra.Extra/Echo" and not step.static and not scn.simple
    assert [name for name, _ in step.headers] == ["authorization"]
    assert step.checks[0].codes == frozenset({0, 5}) and step.checks[0].name == "grpc status in [OK, NOT_FOUND]"


def test_default_name_address_and_streaming_of_the_target_service():
    scn = parse_scenario(doc({"method": "Stream", "message": {"count": 10, "interval_ms": 5}}))
    step = scn.flows[0].steps[0]
    assert step.grpc.streaming and step.grpc.address is None and step.grpc.tls is None
    assert scn.flows[0].name == "call"
    unnamed = doc({"method": "Stream"})
    del unnamed["requests"][0]["name"]
    assert parse_scenario(unnamed).flows[0].name == "loadray.target.Target/Stream"


def test_preflight_and_transport_fast_know_grpc_steps():
    from loadray.preflight import endpoints

    scn = parse_scenario({**doc({"address": "grpcs://127.0.0.1:50551"}), "http": {"tls": {"ca": __file__}}})
    assert [(p.url, p.port) for p in endpoints(scn)] == [("http://127.0.0.1:50051", 50051),
                                                          ("grpcs://127.0.0.1:50551", 50551)]
    builtin = {**doc({"address": "127.0.0.1:50551"}), "target": {"builtin": {"grpc_port": 50551}}}
    assert endpoints(parse_scenario(builtin)) == []  # the built-in target is not up before the run
    with pytest.raises(ScenarioError) as caught:
        parse_scenario({**doc(), "transport": "fast"})
    assert caught.value.path == "transport" and "'fast' cannot call gRPC (step 'call')" in caught.value.message


def test_submit_uploads_each_grpc_proto_with_its_imports_as_a_compiled_set(extra, tmp_path):
    from loadray.cli.job_upload import stage
    from loadray.scenario import load_scenario

    (extra / "importer.proto").write_text(
        'syntax = "proto3";\npackage imp;\nimport "extra.proto";\n'
        "service Imp { rpc Get(extra.Outer) returns (extra.Inner); }\n")
    flows = [{"name": "f", "steps": [
        {"name": "a", "grpc": {"proto": "importer.proto", "service": "imp.Imp", "method": "Get",
                               "message": {"inner": {"n": 1}}}},
        {"name": "b", "path": "/"},
        {"name": "c", "grpc": {"proto": str(PROTO), "service": TARGET, "method": "Unary"}},
    ]}]
    scn = extra / "s.yaml"
    scn.write_text(yaml.safe_dump({k: v for k, v in doc().items() if k != "requests"} | {"flows": flows}))
    original = load_scenario(scn)
    up = tmp_path / "up"
    up.mkdir()
    stage(original, up, [])
    assert sorted(p.name for p in (up / "files").iterdir()) == ["grpc0.protoset", "grpc2.protoset"]
    copy = load_scenario(up / "scenario.yaml")
    assert [s.grpc for s in copy.flows[0].steps] == [s.grpc for s in original.flows[0].steps]
    broken = tmp_path / "broken.protoset"
    broken.write_bytes(b"\xff\xff not a set")
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(doc({"proto": str(broken)}))
    assert caught.value.path == "requests[0].grpc.proto" and "not a compiled FileDescriptorSet" in caught.value.message
