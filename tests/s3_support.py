"""A real S3-compatible server for the tests: moto's, on 127.0.0.1 at a free port.

pyarrow's ``S3FileSystem`` (and DuckDB, polars) talk to it over HTTP; nothing is
mocked. :func:`s3_server` starts it, creates the bucket, points the environment at it
(``AWS_ENDPOINT_URL_S3``, test credentials) while it runs, and stops it.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow.fs as pafs


@dataclass(frozen=True)
class S3:
    port: int
    bucket: str
    fs: pafs.S3FileSystem
    env: dict

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def polars_options(self) -> dict:
        return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_region": "us-east-1",
                "aws_endpoint_url": self.endpoint, "aws_allow_http": "true"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def s3_server(bucket: str) -> Iterator[S3]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}", "AWS_EC2_METADATA_DISABLED": "true"}
    fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
                           access_key="testing", secret_key="testing", allow_bucket_creation=True)
    fs.create_dir(bucket)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield S3(port, bucket, fs, env)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()
