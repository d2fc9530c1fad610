"""What ``loadray VERB --help`` says beyond the flags: a description, an example and the
exit codes of every verb (kept apart from the parser so that it reads as text)."""

from __future__ import annotations

__all__ = ["DESCRIPTIONS", "EPILOGS", "MAIN_EPILOG"]

MAIN_EPILOG = """\
examples:
  loadray run scenarios/quickstart.yaml
  loadray validate my.yaml --env-file .env
  loadray report runs/20261129T101500Z-quickstart
  loadray compare runs/base runs/new
  loadray export runs/20261129T101500Z-quickstart --format csv --out rows.csv
  loadray control runs/20261129T101500Z-quickstart --rate 800
  loadray target --port 8080 --latency 20ms
  loadray submit my.yaml --address http://HEAD:8265

exit codes: 0 ok, 99 thresholds failed (or a regression), 2 bad input (scenario, flag,
run directory), 1 anything else (cluster, target, disk), 130/143 interrupted
(SIGINT/SIGTERM). `loadray VERB --help` describes each verb's arguments and exit codes.
"""

_SCENARIO_REFS = """\
Scenario values may name environment variables: ${VAR}, ${VAR:-default},
${plain:VAR} (not a secret), $${ for a literal '${'. Values from the environment
are secrets: sent, never archived or printed (scenario.yaml keeps the reference).
"""

DESCRIPTIONS = {
    "run": "Run a scenario: plan the load, start the workers on Ray (an embedded local Ray, or the "
           "cluster at --address), archive every request as a row, and write summary.json and "
           "report.html into the run directory, which is printed when the run starts.",
    "validate": "Check a scenario (and its --set overrides and ${VAR} references) without running it.",
    "report": "Rebuild summary.json, plots/ and report.html of a run directory from its archived rows.",
    "compare": "Compare two runs: latency, error rate and throughput side by side, with regression gates.",
    "export": "Stream a run's rows as CSV or JSON lines, in bounded memory, whatever the archive's size.",
    "control": "Change a running test from another terminal: its rate, pause, resume or stop.",
    "target": "Serve the built-in test target (aiohttp) with optional latency, jitter, errors and stalls.",
    "submit": "Run a scenario on a Ray cluster as a Ray job (through its dashboard's job server): the "
              "scenario and the files it names are uploaded, the job's log is shown as it comes, and "
              "the run directory comes back here (or, with --out s3://..., the job writes it to the store).",
}

EPILOGS = {
    "run": _SCENARIO_REFS + """
examples:
  loadray run scenarios/quickstart.yaml
  loadray run api.yaml --set load.phases.0.rate=800 --env-file .env --out runs/api-800
  loadray run api.yaml --summary - --junit thresholds.xml > summary.json     # in CI

exit codes:
  0    the run passed (every threshold held)
  99   a threshold failed, or an abort_on_fail threshold or a breaker stopped the run
  1    the generator failed, not one request succeeded, a worker was lost
       (on_worker_loss: abort), Ray or the target could not start or be reached
       (also --preflight strict, --address unreachable: within 30 s), the disk is full
  2    a bad scenario, flag or --out directory (nothing was started)
  130  interrupted by SIGINT (Ctrl+C): the workers stop, the rows so far are archived,
       the summary says "interrupted" and judges the part that ran; 143 for SIGTERM
""",
    "validate": _SCENARIO_REFS + """
examples:
  loadray validate scenarios/quickstart.yaml
  loadray validate api.yaml --set load.phases.0.rate=800 --env-file .env

exit codes: 0 valid, 2 invalid (one line naming the YAML path or the flag)
""",
    "report": """
example:
  loadray report runs/20261129T101500Z-quickstart --junit thresholds.xml

exit codes: the run's own verdict once rebuilt: 0 passed, 99 a threshold failed or a live
rule stopped the run, 1 the generator failed (a worker lost, nothing succeeded); 2 not a
run directory (or nothing to report); 1 anything else (a full disk: the rows stay)
""",
    "compare": """
example:
  loadray compare runs/base runs/new --max-p99-increase 5% --html compare.html

exit codes: 0 no regression, 99 a gate failed, 2 a run directory cannot be read
""",
    "export": """
examples:
  loadray export runs/x --format csv --out rows.csv
  loadray export runs/x --format jsonl --columns step,status,latency_ns | head

columns: intended_ns sent_ns latency_ns service_ns status error step phase worker
bytes_in attempt user flow_id flow_ns trace_id error_detail (default: all)

exit codes: 0 written, 2 not a run directory or an unknown column, 1 anything else
""",
    "control": """
examples:
  loadray control runs/20261129T101500Z-quickstart --rate 800
  loadray control runs/20261129T101500Z-quickstart --stop

exit codes: 0 the run took the command, 2 no run in progress there (or a bad value),
1 anything else
""",
    "target": """
example:
  loadray target --port 8080 --latency 20ms --jitter 5ms --error-rate 1%

exit codes: 0 stopped, 2 bad options, 1 cannot listen (the port is taken), 130 interrupted (Ctrl+C)
""",
    "submit": _SCENARIO_REFS + """
example:
  loadray submit api.yaml --address http://HEAD:8265 --out runs/api
  loadray submit api.yaml --address http://HEAD:8265 --out s3://bucket/loadray/api   # credentials: the cluster's

exit codes: loadray's own on the cluster (0, 99, 1, 2); 1 when the job ended without one or
its run directory could not be brought back; 130 (143) when stopped with Ctrl+C (SIGTERM)
""",
}
