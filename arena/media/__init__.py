"""The media port: where recorded roasts (audio) are kept.

`store_audio(match, round, player_index, data) -> url` stores one recording
under `audio/{match}/round{n}_player{m}.webm` and returns the URL clients get
in `battle:roast_submitted`. `fetch(url) -> bytes` reads it back (the judge
transcribes from it). `store_avatar(wallet, png) -> url` keeps a profile
picture (checked and re-encoded as PNG by the gateway) under
`avatars/{wallet}/{content digest}.png`. `store_object(key, data,
content_type) -> url` keeps a file a side task made (the weekly canvas's
archived image and timelapse, `canvas/...`) under a checked key.

Two implementations, chosen by `[media] kind`: `local` (files under
`[media] path`, the default; arena/media/local.py) and `s3` (any
S3-compatible object store through boto3; arena/media/s3.py).
"""


def make_media(cfg):
    """The media store `[media] kind` asks for."""
    kind = cfg.media.kind
    if kind == "local":
        from arena.media.local import LocalMedia

        return LocalMedia(cfg.media.path, cfg.media.base_url)
    if kind == "s3":
        from arena.media.s3 import S3Media

        return S3Media.from_config(cfg.media)
    raise ValueError(f"media kind {kind!r} is not available in this build")
