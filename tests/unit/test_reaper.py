"""The reaper finds the embedded Ray's processes by its marker, and Ray's titled ones
(whose title was written over the marker) by the files they hold in its session
directory; a bystander holding such a file (a user's ``tail -f``) is left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psutil

from loadray.reaper import OWNER_ENV, carries, ours, reap, session_dirs

# holds a file open, takes a title as Ray's agents do (over the start of its environment), says so
HOLDER = ("import sys, time, ray._raylet\n"
          "f = open(sys.argv[1], 'a')\n"
          "if sys.argv[2:]: ray._raylet.setproctitle(sys.argv[2])\n"
          "print('up', flush=True)\n"
          "time.sleep(60)\n")


def holder(path, env, title=None) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), *([title] if title else [])], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "up\n"
    return proc


def test_titled_processes_are_found_by_their_session_files_and_bystanders_are_left(tmp_path):
    session = tmp_path / "session_2026-11-30_05-11-34_346386_4242"
    (session / "logs").mkdir(parents=True)
    marker = uuid.uuid4().hex
    env = {f"{OWNER_ENV}": marker, **os.environ}  # the marker first: the title goes over it
    started = []
    try:
        gcs = holder(session / "logs" / "gcs_server.out", env)
        agent = holder(session / "logs" / "dashboard_agent.log", env, title="ray::DashboardAgent")
        stray_agent = holder(tmp_path / "elsewhere.log", env, title="ray::DashboardAgent")  # another Ray's
        tail = subprocess.Popen(["tail", "-f", str(session / "logs" / "gcs_server.out")],
                                env=env | {OWNER_ENV: "someone-else"}, stdout=subprocess.DEVNULL)
        started = [gcs, agent, stray_agent, tail]
        entry = f"{OWNER_ENV}={marker}"
        assert carries(psutil.Process(gcs.pid), entry) and not carries(psutil.Process(agent.pid), entry)

        assert session_dirs([psutil.Process(gcs.pid)]) == {str(session)}
        assert sorted(p.pid for p in ours(marker)) == sorted([gcs.pid, agent.pid])  # the session from gcs's files
        assert sorted(p.pid for p in ours(marker, [str(session)])) == sorted([gcs.pid, agent.pid])
        gcs.kill()
        gcs.wait()
        assert [p.pid for p in ours(marker)] == []  # nothing marked left to learn the session from
        assert [p.pid for p in ours(marker, [str(session)])] == [agent.pid]  # the session the driver told

        reap(marker, [str(session)], grace_s=1.0)
        agent.wait(5)  # gone (Ray's handler exits 0 on SIGTERM)
        assert stray_agent.poll() is None and tail.poll() is None
    finally:
        for proc in started:
            proc.kill()
            proc.wait()
