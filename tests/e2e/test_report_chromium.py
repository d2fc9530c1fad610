"""The HTML report and the compare page render in headless Chromium (when installed): a
screenshot of each is taken and must not be blank. Look at them: LOADRAY_SCREENSHOT=path
keeps a copy of the report's, LOADRAY_SCREENSHOT_COMPARE=path of the compare page's."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
START = 1_700_000_000_000_000_000


def synthetic_run(run_dir: Path, n: int = 20_000, scale: float = 1.0) -> Path:
    """A 10 s, 2-step, 4-worker run with a few errors, written like a real one
    (latencies times ``scale``)."""
    import pyarrow as pa

    from loadray.archive import SampleSink, create_run_dir, write_scenario
    from loadray.report import rebuild
    from loadray.schema import SCHEMA, complete

    rng = np.random.default_rng(3)
    k = np.arange(n)
    intended = START + k * (10 * 10**9 // n)
    err = np.where(rng.random(n) < 0.01, "timeout", None)
    lat = (rng.lognormal(np.log(8e6), 0.4, n) * scale).astype(np.int64)
    create_run_dir(run_dir)
    write_scenario(run_dir, {"name": "screenshot", "target": "http://127.0.0.1:8080", "workers": 4,
                             "load": {"phases": [{"duration": "5s", "rate": 1000}, {"duration": "5s", "rate": 3000}]},
                             "thresholds": ["p99 < 50ms", "error_rate < 0.5%"]})
    table = complete({
        "intended_ns": intended, "sent_ns": intended + 50_000, "latency_ns": lat, "service_ns": lat - 50_000,
        "status": np.where(err == None, 200, 0).astype(np.int16),  # noqa: E711
        "error": pa.array(err, SCHEMA.field("error").type),
        "step": pa.array(np.where(k % 3, "home", "search").tolist(), SCHEMA.field("step").type),
        "phase": (k >= n // 2).astype(np.int16), "worker": (k % 4).astype(np.int16),
        "bytes_in": np.full(n, 512, np.int32),
    })
    sink = SampleSink(run_dir / "samples", START)
    sink.write(0, table)
    sink.close(START + 10 * 10**9)
    rebuild(run_dir)
    return run_dir


def screenshot(page: Path, shot: Path, profile: Path, height: int = 3000) -> np.ndarray:
    from PIL import Image

    done = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         f"--screenshot={shot}", f"--window-size=1200,{height}", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return np.asarray(Image.open(shot).convert("L"))


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    report = synthetic_run(tmp_path / "run") / "report.html"
    shot = tmp_path / "report.png"
    image = screenshot(report, shot, tmp_path / "profile")
    assert image.shape == (3000, 1200)
    assert image.std() > 20  # not blank: text and plots
    assert (image < 128).mean() > 0.01  # some dark pixels (text, lines)
    if os.environ.get("LOADRAY_SCREENSHOT"):
        shutil.copy(shot, os.environ["LOADRAY_SCREENSHOT"])


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium)")
def test_compare_page_renders_in_headless_chromium(tmp_path):
    from loadray.api import compare, comparison_report
    from loadray.archive import write_scenario

    base, new = synthetic_run(tmp_path / "base"), synthetic_run(tmp_path / "new", scale=1.3)
    write_scenario(new, {"name": "screenshot", "target": "http://127.0.0.1:8081", "workers": 4,
                         "load": {"phases": [{"duration": "5s", "rate": 1000}, {"duration": "5s", "rate": 3000}]},
                         "thresholds": ["p99 < 50ms", "error_rate < 0.5%"]})
    page = tmp_path / "compare.html"
    page.write_text(comparison_report(compare(base, new), base, new))
    html = page.read_text()
    assert '<li class="bad">✗ latency p99 increase' in html and '<li class="ok">✓ error rate increase' in html
    assert "target: &#x27;http://127.0.0.1:8080&#x27; → &#x27;http://127.0.0.1:8081&#x27;" in html
    shot = tmp_path / "compare.png"
    image = screenshot(page, shot, tmp_path / "profile", height=2000)
    assert image.shape == (2000, 1200) and image.std() > 20
    if os.environ.get("LOADRAY_SCREENSHOT_COMPARE"):
        shutil.copy(shot, os.environ["LOADRAY_SCREENSHOT_COMPARE"])
