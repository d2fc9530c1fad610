"""Run by test_bed_verbs.py: a 2-host bed without Ray and a process inside host 1, then
either ``close`` (normal teardown) or ``crash`` (SIGKILL itself: nothing is torn down).
Prints one JSON line naming everything it made."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from testbed import TestBed  # noqa: E402


def main(mode: str) -> None:
    bed = TestBed(n_hosts=2, with_ray=False).start()
    sleeper = bed.spawn(1, ["sleep", "300"], "sleeper")
    marked = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", f"{bed.root}/marker"])
    time.sleep(0.2)
    made = {
        "netns": [h.netns for h in bed.hosts], "veths": [h.veth for h in bed.hosts],
        "bridge": bed.network.bridge, "root": str(bed.root),
        "pids": [sleeper.proc.pid, marked.pid, bed.recorder.proc.pid],
    }
    print(json.dumps(made), flush=True)
    if mode == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    bed.close()


if __name__ == "__main__":
    main(sys.argv[1])
