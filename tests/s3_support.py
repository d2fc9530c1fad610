"""A real S3-compatible server for the tests: moto's, on 127.0.0.1 at a free port.

pyarrow's ``S3FileSystem`` (and DuckDB, polars) talk to it over HTTP; nothing is
mocked. :func:`s3_server` starts it, creates the bucket, points the environment at it
(``AWS_ENDPOINT_URL_S3``, test credentials) while it runs, and stops it.

:class:`Faults` switches what the store refuses: with ``refuse_writes`` set, every
write that carries data (a PutObject, a part of a multipart upload, its completion:
a PUT or POST with a body) is answered 403 AccessDenied, as a full store or a bucket
policy denying ``s3:PutObject`` would (pyarrow does not retry it); reads, deletes and
the start of a multipart upload (no body) still work. It also counts the multipart
uploads started (``uploads_started``). :meth:`S3.incomplete_uploads` lists those
neither completed nor aborted (S3's ListMultipartUploads, through boto3, which moto
depends on). After :meth:`Faults.freeze` it answers nothing: requests are held (the
connection accepted, no byte back) until :meth:`Faults.thaw`, then served, so a write
its client gave up on lands late, as on a SIGSTOPped server.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow.fs as pafs

DENIED = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'


@dataclass
class Faults:
    refuse_writes: bool = False
    held: int = 0  # requests held unanswered by freeze() so far
    _thawed: threading.Event = field(default_factory=lambda: _set(threading.Event()))
    _frozen_methods: tuple = ()  # () = every method

    def freeze(self, *methods: str) -> None:
        """From now on every request (or those of ``methods``: "DELETE"...) is held
        unanswered (the connection accepted, no byte sent back), as by a hung or SIGSTOPped
        store, until :meth:`thaw`."""
        self._frozen_methods = methods
        self._thawed.clear()

    def thaw(self) -> None:
        """Answer the held requests (each as the store would have, also when its client
        gave up on it: a PUT held then lands late) and every request from now on."""
        self._thawed.set()
    refused: int = 0  # writes answered 403 so far
    refused_paths: list = field(default_factory=list)  # their paths (/bucket/key)
    uploads_started: int = 0  # CreateMultipartUpload requests (POST ?uploads)

    def app(self, inner):
        def app(environ, start_response):
            method, query = environ["REQUEST_METHOD"], environ.get("QUERY_STRING", "")
            if not self._thawed.is_set() and method in (self._frozen_methods or (method,)):
                self.held += 1
                self._thawed.wait()
            if method == "POST" and query.split("&")[0] in ("uploads", "uploads="):
                self.uploads_started += 1
            body = int(environ.get("CONTENT_LENGTH") or 0) or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "")
            if self.refuse_writes and method in ("PUT", "POST") and body:
                self.refused += 1
                self.refused_paths.append(environ.get("PATH_INFO", ""))
                environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0) or -1)  # keep the connection sane
                start_response("403 Forbidden", [("Content-Type", "application/xml"),
                                                 ("Content-Length", str(len(DENIED)))])
                return [DENIED]
            return inner(environ, start_response)

        return app


@dataclass(frozen=True)
class S3:
    port: int
    bucket: str
    fs: pafs.S3FileSystem
    env: dict
    faults: Faults = field(default_factory=Faults)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def polars_options(self) -> dict:
        return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_region": "us-east-1",
                "aws_endpoint_url": self.endpoint, "aws_allow_http": "true"}

    def incomplete_uploads(self, prefix: str = "") -> list[str]:
        """Keys of multipart uploads under ``prefix`` neither completed nor aborted."""
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        found = client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        return sorted(u["Key"] for u in found.get("Uploads", []))


def _set(event: threading.Event) -> threading.Event:
    event.set()
    return event


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto(port: int, faults: Faults, host: str = "127.0.0.1") -> Iterator[None]:
    """moto's S3 server on ``host:port`` (a thread of this process) while in the block."""
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    app = faults.app(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        faults.thaw()
        server.shutdown()
        thread.join()


@contextlib.contextmanager
def s3_server(bucket: str) -> Iterator[S3]:
    port, faults = free_port(), Faults()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}", "AWS_EC2_METADATA_DISABLED": "true"}
    with moto(port, faults):
        fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
                               access_key="testing", secret_key="testing", allow_bucket_creation=True)
        fs.create_dir(bucket)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield S3(port, bucket, fs, env, faults)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
