"""Upper bounds and finite numbers (issue 10, items 8 and 9): each row is one reproduction,
rejected with one line naming the YAML path (or ``--set`` flag); ``limits`` raises a
bound for the rare real case."""

from __future__ import annotations

import pytest

from loadray.errors import ScenarioError
from loadray.flow.regex import HAVE_RE2
from loadray.plan import Profile
from loadray.scenario import parse_scenario
from loadray.scenario.limits import Limits
from test_scenario_errors import DELETE, edited

CLOSED = {"load": {"model": "closed", "phases": [{"duration": "10s", "users": 5}]}}
STEPS = {"rate": 100, "step": 50, "every": "10s", "times": 4}
FLOW = {"flows": [{"name": "f", "steps": [{"name": "s", "path": "/"}]}]}
BIG = 10**400

BAD = [
    # (changes, --set overrides, path, message fragment)
    ({"load.phases.0.rate": 1e12}, [], "load.phases[0].rate",
     "must be <= 10000000 req/s (raise limits.max_rate if you mean it), got 1000000000000"),
    ({"load.phases.1.to": 1e12}, [], "load.phases[1].to", "must be <= 10000000 req/s"),
    ({"load.phases.1": {**STEPS, "step": 1e300}}, [], "load.phases[1]",
     "a level reaches 1e+300 req/s; must be <= 10000000 req/s"),
    ({"load.phases.0.rate": BIG}, [], "load.phases[0].rate",
     "must be a finite number, got an integer of about 401 digits"),
    ({"load.phases.0.rate": 1e300, "load.phases.0.duration": 1e300}, [], "load.phases[0].rate",
     "must be <= 10000000 req/s"),
    ({"load.phases.0.duration": "876000h"}, [], "load.phases[0].duration",
     "must be <= 7d (raise limits.max_duration if you mean it), got 36500d"),
    ({"load.phases.0.duration": "4d", "load.phases.1.duration": "4d"}, [], "load.phases",
     "the phases last 8d in all; must be <= 7d"),
    ({"load.phases.1": {**STEPS, "every": "8d"}}, [], "load.phases[1].every", "must be <= 7d"),
    ({**CLOSED, "load.phases.0.users": 10**9}, [], "load.phases[0].users",
     "must be <= 100000 users (raise limits.max_users if you mean it), got 1000000000"),
    ({**CLOSED, "load.phases.0.users": BIG}, [], "load.phases[0].users", "must be <= 9007199254740992"),
    ({**CLOSED, "load.think": 1e300}, [], "load.think", "must be <= 7d"),
    ({**CLOSED, "load.think": {"uniform": ["1s", 1e300]}}, [], "load.think.uniform[1]", "must be <= 7d"),
    ({"retry": {"max_attempts": 10**9}}, [], "retry.max_attempts",
     "must be <= 100 (raise limits.max_attempts if you mean it), got 1000000000"),
    ({"requests.0.retry": {"max_attempts": 1000}}, [], "requests[0].retry.max_attempts", "must be <= 100"),
    ({"retry": {"backoff": {"base": 1e300}}}, [], "retry.backoff.base", "must be <= 7d"),
    ({**FLOW, "requests": DELETE, "flows.0.steps.0.retry": {"backoff": {"cap": "30d"}}}, [],
     "flows[0].steps[0].retry.backoff.cap", "must be <= 7d"),
    ({"http.timeout": 1e300}, [], "http.timeout", "must be <= 7d"),
    ({"http.connect_timeout": 1e300}, [], "http.connect_timeout", "must be <= 7d"),
    ({"requests.0.timeout": 1e300}, [], "requests[0].timeout", "must be <= 7d"),
    ({"live.window": 1e300}, [], "live.window", "must be <= 7d"),
    ({"thresholds": [{"threshold": "p99 < 1s", "delay": 1e300}]}, [], "thresholds[0].delay", "must be <= 7d"),
    ({"abort_when": ["p99 > 1s for 100d"]}, [], "abort_when[0]", "must be <= 7d"),
    ({"abort_when": ["p99 > 1s for " + "9" * 400 + "s"]}, [], "abort_when[0]", "(too large)"),
    ({"thresholds": ["dropped < " + "9" * 400]}, [], "thresholds[0]", "expected a finite count"),
    ({"target": {"builtin": {"latency": 1e300}}}, [], "target.builtin.latency", "must be <= 7d"),
    ({"requests.0.weight": 1e300}, [], "requests[0].weight", "must be <= 1000000000"),
    ({"seed": 2**64}, [], "seed", "must be <= 9223372036854775807"),
    ({"cluster.worker_cpus": 1e300}, [], "cluster.worker_cpus", "must be <= 1024"),
    ({"alerts.webhook": "http://127.0.0.1:9000/hook\r\nX-Evil: 1"}, [], "alerts.webhook",
     "must be an http:// or https:// URL with a host, got 'http://127.0.0.1:9000/hook\\r\\nX-Evil: 1' "
     "(spaces or control characters)"),
    ({"target": "http://{{ x }}"}, [], "target", "(spaces or control characters)"),
    ({"target": "http://{{x}}"}, [], "target", "(not a host name: '{{x}}')"),
    ({"target": "http://127.0.0.1:8080/a b"}, [], "target", "(spaces or control characters)"),
    ({"http.headers": {"X-A\r\nX-B": "v"}}, [], "http.headers.'X-A\\r\\nX-B'", "not a valid header name"),
    ({"http.headers": {"X-A\n": "v"}}, [], "http.headers.'X-A\\n'", "not a valid header name"),
    ({"requests.0.headers": {"X-Mood": "😀"}}, [], "requests[0].headers.X-Mood",
     "must be Latin-1 text: '😀' (U+1F600) at position 0 cannot be sent in an HTTP header"),
    ({"requests.0.json": {"a": float("inf")}}, [], "requests[0].json.a", "must be a finite number, got inf"),
    ({"requests.0.query": {"page": "{{ random_int(1, " + "9" * 30 + ") }}"}}, [], "requests[0].query.page",
     "bad template"),
    ({"requests.0.extract": {"name": "t", "source": "regex", "expr": "a" * 5000}}, [],
     "requests[0].extract", "regex of 5000 characters; at most 4096"),
    ({"requests.0.check": {"json": {"expr": "abs(" * 500 + "@" + ")" * 500, "equals": 1}}}, [],
     "requests[0].check.json.expr", "nested too deep"),
    ({"requests.0.check": {"json": {"expr": "a." * 3000 + "a", "equals": 1}}}, [],
     "requests[0].check.json.expr", "JMESPath of 6001 characters; at most 4096"),
    ({}, ["workers=" + "9" * 5000], "--set workers", "integer of 5000 characters is too long"),
    ({}, ["load.phases.0.rate=" + "9" * 400], "load.phases[0].rate", "must be a finite number"),
    ({}, ["load.phases.0.rate=1.0e+400"], "--set load.phases.0.rate", "1.0e+400 is not a finite number"),
    ({}, ["limits.max_rate=1e12"], "limits.max_rate",
     "must be a number, got '1e12' (YAML reads 1e12 as text; write 1.0e+12 or a plain number)"),
    ({}, ["limits.max_rate=1.0e+12"], "limits.max_rate", "must be <= 1000000000"),
    ({}, ["limits.max_duration=400d"], "limits.max_duration", "must be <= 366d"),
    ({}, ["limits.max_depth=500"], "limits.max_depth", "must be <= 100"),
    ({}, ["limits.max_feeder_size=20GiB"], "limits.max_feeder_size", "must be between 1B and 16GiB"),
    ({"limits": {"max_rat": 5}}, [], "limits", "unknown key 'max_rat' (expected one of: max_rate,"),
    ({"limits": [1]}, [], "limits", "must be a mapping, got a list"),
]

if not HAVE_RE2:  # RE2 runs these in linear time; only the guarded ``re`` must refuse them
    BAD += [
        ({"requests.0.extract": {"name": "t", "source": "regex", "expr": "(" * 1000 + "a" + ")" * 1000}}, [],
         "requests[0].extract", "bad regex '((((("),
        ({"requests.0.extract": {"name": "t", "source": "regex", "expr": "(" * 1000 + "a" + ")" * 1000}}, [],
         "requests[0].extract", "...)': nested too deep"),
        ({"requests.0.extract": {"name": "t", "source": "regex", "expr": "a{4294967296}"}}, [],
         "requests[0].extract", "bad regex 'a{4294967296}': the repetition number is too large"),
    ]


@pytest.mark.parametrize(("changes", "overrides", "path", "fragment"), BAD, ids=[c[2] for c in BAD])
def test_out_of_bounds_is_one_line_naming_the_path(changes, overrides, path, fragment):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(edited(changes), overrides)
    assert info.value.path == path
    assert fragment in info.value.message
    assert "\n" not in str(info.value) and "\r" not in str(info.value)


GOOD = [
    # (changes, overrides): the same values are accepted once ``limits`` allows them
    ({"load.phases.0.rate": 2e7, "limits": {"max_rate": 5e7}}, []),
    ({"load.phases.0.rate": 2e7}, ["limits.max_rate=50000000"]),
    ({"load.phases.0.duration": "10d"}, ["limits.max_duration=30d"]),
    ({**CLOSED, "load.phases.0.users": 500_000, "limits": {"max_users": 1_000_000}}, []),
    ({"retry": {"max_attempts": 1000}}, ["limits.max_attempts=1000"]),
    ({"requests.0.headers": {"X-Name": "José"}}, []),  # Latin-1 is sent as written
    ({"target": "http://[::1]:8080"}, []),
]


@pytest.mark.parametrize(("changes", "overrides"), GOOD)
def test_limits_raise_a_bound(changes, overrides):
    scenario = parse_scenario(edited(changes), overrides)
    assert Profile(scenario.phases).intended >= 0  # plannable: nothing overflows


def test_the_default_limits():
    assert Limits() == Limits(
        max_rate=10_000_000.0, max_users=100_000, max_duration_s=7 * 86400.0, max_attempts=100,
        max_scenario_size=1024**2, max_feeder_size=16 * 1024**2, max_values=1_000_000, max_depth=64,
    )
    scenario = parse_scenario(edited({}), ["limits.max_rate=2000"])
    assert scenario.limits == Limits(max_rate=2000.0)
    assert scenario.source["limits"] == {"max_rate": 2000}  # archived with the run


def test_the_largest_scenario_within_the_limits_plans_without_overflow():
    changes = {"load.phases": [{"duration": "7d", "rate": 10_000_000}]}
    assert Profile(parse_scenario(edited(changes)).phases).intended == 6_048_000_000_000
