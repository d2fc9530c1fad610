"""Live ``rate`` rules are judged only over full windows (issue 13): at 3 ms the window
is empty and its "rate" 0; at 3 s a 10 s window holds 3 s of sends. Judged then, a
``rate > 450`` threshold on a steady 500 req/s breached at t = 0.003 s, and with
``abort_on_fail`` stopped the run after 2 ms (exit 99).

The rule (loadray.live.rules): a window's rate is over the seconds that have reports in
it, and "no data" before the first report, so a filling window neither breaches nor
aborts.
"""

from __future__ import annotations

import dataclasses


from loadray.live.board import Board
from loadray.live.rules import Rules
from loadray.live.status import Tally, WorkerSecond
from loadray.scenario import parse_threshold

S = 1_000_000_000
START = 1_700_000_000 * S
WINDOW_S = 10



def _judge(rate_per_s, seconds: float, step_s: float = 0.5):
    """Breaches and abort of ``rate > 450`` (abort_on_fail) every ``step_s`` while two
    workers send ``rate_per_s(second)`` between them."""
    rule = dataclasses.replace(parse_threshold("rate > 450", "thresholds[0]"), abort_on_fail=True)
    rules, board = Rules([rule], [], WINDOW_S), Board(START)
    found, at = [], 0.0
    while at <= seconds:
        second = int(at)
        if at == second and second > 0:  # each worker's heartbeat for the second that ended
            for worker in (0, 1):
                n = rate_per_s(second - 1) // 2
                board.add(WorkerSecond(worker, START + second * S - 1, sent=n, rows=Tally(rows=n)))
        breaches, abort = rules.check(board, START + int(at * S) + 3_000_000)  # 3 ms into each tick
        found += [(b.at_s, abort) for b in breaches] + ([(at, abort)] if abort and not breaches else [])
        at += step_s
    return found


def test_a_steady_rate_above_the_limit_never_breaches_while_the_first_window_fills():
    assert _judge(lambda s: 500, 14) == []


def test_a_rate_that_really_drops_breaches_once_a_full_window_shows_it():
    found = _judge(lambda s: 500 if s < 12 else 100, 20)
    assert found and 12 < found[0][0] < 20 and found[0][1] is not None
