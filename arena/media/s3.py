"""Media in an S3-compatible object store (AWS S3, MinIO, Ceph, R2 ...), via boto3.

Chosen by `[media] kind = "s3"`, with `bucket` (required), and optionally
`endpoint` (an S3-compatible server; "" = AWS), `region`, `access_key` /
`secret_key` (else boto3's usual credential chain: environment, profile,
instance role) and `base_url` (the public URL prefix clients fetch from, e.g.
a CDN in front of the bucket).

Recordings are written with `put_object` under the same keys as local media
(`audio/{match}/round{n}_player{m}.webm`, `audio/webm`). The URL handed to
clients is `{base_url}/{key}` when `base_url` is set, else the object's
path-style URL at the endpoint (`{endpoint}/{bucket}/{key}`), else its AWS
virtual-hosted URL. `fetch(url)` maps such a URL back to its key and reads
the object with the configured credentials (so the bucket need not be
public for the judge). boto3 is blocking: every call runs in a worker thread
(`trio.to_thread`), abandoned on cancellation (both calls are idempotent).
"""

from __future__ import annotations

import functools
from urllib.parse import quote, unquote

import trio

from arena.engine.errors import NOT_FOUND, ArenaError
from arena.media.local import audio_key, avatar_key, object_key

CONTENT_TYPE = "audio/webm"


class S3Media:
    name = "s3"

    def __init__(self, bucket: str, *, endpoint: str = "", region: str = "", access_key: str = "",
                 secret_key: str = "", base_url: str = "", client=None):
        if not bucket:
            raise ValueError('[media] kind = "s3" needs [media] bucket')
        self.bucket = bucket
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self.base_url = base_url.rstrip("/")
        self._client = client if client is not None else self._make_client(access_key, secret_key)

    @classmethod
    def from_config(cls, media_cfg) -> S3Media:
        return cls(
            media_cfg.bucket,
            endpoint=media_cfg.endpoint,
            region=media_cfg.region,
            access_key=media_cfg.access_key,
            secret_key=media_cfg.secret_key,
            base_url=media_cfg.base_url,
        )

    def _make_client(self, access_key: str, secret_key: str):
        import boto3
        from botocore.config import Config

        kwargs = {
            "config": Config(
                connect_timeout=5,
                read_timeout=20,
                retries={"max_attempts": 3, "mode": "standard"},
                s3={"addressing_style": "path"} if self.endpoint else {},
            ),
        }
        if self.endpoint:
            kwargs["endpoint_url"] = self.endpoint
        if self.region:
            kwargs["region_name"] = self.region
        if access_key or secret_key:
            kwargs["aws_access_key_id"] = access_key
            kwargs["aws_secret_access_key"] = secret_key
        return boto3.session.Session().client("s3", **kwargs)

    def __repr__(self) -> str:  # no credentials
        return f"<S3Media bucket={self.bucket!r} endpoint={self.endpoint or 'aws'!r}>"

    @property
    def url_prefix(self) -> str:
        if self.base_url:
            return f"{self.base_url}/"
        if self.endpoint:
            return f"{self.endpoint}/{self.bucket}/"
        region = self.region or "us-east-1"
        return f"https://{self.bucket}.s3.{region}.amazonaws.com/"

    def url_for(self, key: str) -> str:
        return self.url_prefix + quote(key)

    def key_of(self, url: str) -> str:
        prefix = self.url_prefix
        if not isinstance(url, str) or not url.startswith(prefix):
            raise ArenaError(NOT_FOUND, "not a URL of this media store")
        key = unquote(url[len(prefix):])
        if not key.startswith("audio/") or ".." in key.split("/") or "//" in key:
            raise ArenaError(NOT_FOUND, "not a media key of this store")
        return key

    async def store_audio(self, match: str, round_: int, player_index: int, data: bytes) -> str:
        return await self._put(audio_key(match, round_, player_index), data, CONTENT_TYPE)

    async def store_avatar(self, wallet: str, png: bytes) -> str:
        """A profile picture, already checked and re-encoded as PNG (`arena.net.reads`)."""
        return await self._put(avatar_key(wallet, png), png, "image/png")

    async def store_object(self, key: str, data: bytes, content_type: str) -> str:
        """A file a side task made (an archived image or video) under `key`."""
        return await self._put(object_key(key), data, content_type)

    async def _put(self, key: str, data: bytes, content_type: str) -> str:
        put = functools.partial(self._client.put_object, Bucket=self.bucket, Key=key, Body=bytes(data),
                                ContentType=content_type)
        await trio.to_thread.run_sync(put, abandon_on_cancel=True)
        return self.url_for(key)

    async def fetch(self, url: str) -> bytes:
        key = self.key_of(url)

        def get() -> bytes:
            obj = self._client.get_object(Bucket=self.bucket, Key=key)
            with obj["Body"] as body:
                return body.read()

        try:
            return await trio.to_thread.run_sync(get, abandon_on_cancel=True)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
            if code in ("NoSuchKey", "404", "NotFound"):
                raise ArenaError(NOT_FOUND, "no such recording") from None
            raise
