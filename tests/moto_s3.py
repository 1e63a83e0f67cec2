"""An S3-compatible server on 127.0.0.1 for tests: moto's ThreadedMotoServer.

`moto_s3()` is a context manager yielding the endpoint URL, with the bucket
`BUCKET` created. Tests that use it skip (saying why) if moto is missing.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest

BUCKET = "arena-media"
ACCESS_KEY = "testing"
SECRET_KEY = "s3-secret-DO-NOT-LEAK"
REGION = "us-east-1"


def s3_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY)


@contextmanager
def moto_s3():
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is needed for the S3 tests")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3_client(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def media_section(base_media, endpoint: str, **over):
    """`[media]` for S3 at `endpoint` (an attrs.evolve of `base_media`)."""
    import attrs

    return attrs.evolve(base_media, kind="s3", bucket=BUCKET, endpoint=endpoint, region=REGION,
                        access_key=ACCESS_KEY, secret_key=SECRET_KEY, **over)
