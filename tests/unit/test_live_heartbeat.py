"""The per-second worker heartbeat built from a batch of rows."""

from loadray.live.heartbeat import send_lag_p99_ms
from loadray.schema import from_rows


def test_heartbeat_send_lag_leaves_out_retries():
    rows = [{"intended_ns": i, "sent_ns": i + 2_000_000, "status": 200, "phase": 0, "worker": 0, "bytes_in": 0,
             "attempt": 1 if i % 2 else 3} for i in range(100)]
    for r in rows:
        if r["attempt"] == 3:
            r["sent_ns"] += 500_000_000  # the backoff
    batch = from_rows(rows).to_batches()[0]
    assert send_lag_p99_ms(batch) == 2.0
