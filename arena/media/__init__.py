"""The media port: where recorded roasts (audio) are kept.

`store_audio(match, round, player_index, data) -> url` stores one recording
under `audio/{match}/round{n}_player{m}.webm` and returns the URL clients get
in `battle:roast_submitted`. `fetch(url) -> bytes` reads it back (the judge
transcribes from it).
"""
