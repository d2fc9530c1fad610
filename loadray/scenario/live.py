"""The ``alerts`` and ``live`` sections: what the coordinator uses while a run is going.

- ``alerts: {webhook: http://127.0.0.1:9000/hook}``: one JSON POST per live breach.
- ``live: {window: 10s}``: the sliding window over which thresholds are evaluated live.
"""

from __future__ import annotations

from typing import Any

from loadray.fields import Fields, duration, string
from loadray.scenario.model import DEFAULT_LIVE_WINDOW_S
from loadray.scenario.targets import HTTP_URL, http_url

ALERT_KEYS = ("webhook",)
LIVE_KEYS = ("window",)


def parse_alerts(value: Any, path: str = "alerts") -> str | None:
    """The webhook URL, or None (no ``alerts``, or ``webhook: null``)."""
    return Fields(value, path, ALERT_KEYS).get("webhook", webhook_url, None)


def webhook_url(value: Any, path: str) -> str | None:
    if value is None:
        return None
    url = string(value, path).strip()
    http_url(url, path, f"must be {HTTP_URL}")
    return url


def parse_live(value: Any, path: str = "live") -> float:
    """The live window in seconds."""
    return Fields(value, path, LIVE_KEYS).get("window", duration(), DEFAULT_LIVE_WINDOW_S)
