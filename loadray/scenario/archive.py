"""The ``archive`` key: where runs of this scenario are written (``--out`` wins).

- ``archive: runs/nightly`` — a local directory (the default is ``runs``);
- ``archive: s3://bucket/prefix`` (also ``gs://``, ``hdfs://``, ``file:///shared/mount``)
  — a storage URI: every worker writes its own Parquet parts there;
- ``archive: {uri: s3://bucket/prefix, endpoint: http://127.0.0.1:9000, region: eu-west-1}``
  — an S3-compatible store with its endpoint and region (credentials always come from the
  environment or the AWS config: ``AWS_ACCESS_KEY_ID``...; never write them here).

Each run gets its own directory below it: ``<archive>/<UTC time>-<name>``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from loadray.errors import ScenarioError
from loadray.fields import Fields, string

ARCHIVE_KEYS = ("uri", "endpoint", "region")


def parse_archive(value: Any, path: str = "archive") -> str:
    """The base location of runs: a local path or a storage URI (with the endpoint and
    region as query options ``pyarrow.fs`` reads)."""
    if isinstance(value, str):
        return _location(value, path)
    fields = Fields(value, path, ARCHIVE_KEYS)
    uri = fields.get("uri", lambda v, p: _location(string(v, p), p))
    endpoint = fields.get("endpoint", _endpoint, None)
    region = fields.get("region", string, None)
    if endpoint is None and region is None:
        return uri
    if not uri.startswith("s3://"):
        raise ScenarioError(f"{path}.uri", f"endpoint and region apply to s3:// URIs, got {uri!r}")
    query = {**({"endpoint_override": endpoint[1], "scheme": endpoint[0]} if endpoint else {}),
             **({"region": region} if region else {})}
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode(query)}"


def _location(text: str, path: str) -> str:
    text = text.strip()
    if not text:
        raise ScenarioError(path, "must name a directory or a storage URI (s3://bucket/prefix), got ''")
    return text


def _endpoint(value: Any, path: str) -> tuple[str, str]:
    """(scheme, host:port) of an endpoint URL."""
    text = string(value, path).strip()
    parts = urlsplit(text if "://" in text else f"https://{text}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ScenarioError(path, f"must be an http(s)://host:port URL, got {text!r}")
    return parts.scheme, parts.netloc
