"""`[feeds]` and `[feeds.<feed>]` in config.toml: parsed, checked, described."""

from __future__ import annotations

import pytest

from arena.config import ConfigError, FeedConfig, FeedsConfig, FeedSourceConfig, default_config, describe, load_config
from arena.engine.registry import registry
from arena.engine.outputs import FetchFeed, Settle


def load(tmp_path, text: str):
    p = tmp_path / "config.toml"
    p.write_text(text)
    return load_config(p, env={})


def errors(tmp_path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    label = str(tmp_path / "config.toml")
    return [e.removeprefix(label + ": ") for e in info.value.errors]


PRICE = '''
[feeds]
kind = "http"
[feeds.sol_usd]
consensus = "median"
min_sources = 2
max_age_ms = 60000
decimals = 6
deadline_ms = 10000
failure_threshold = 3
reset_s = 10
sources = [
  {name = "a", url = "https://a.example/p?s={symbol}&key=s3cr3t-token", value_path = "data.price", time_path = "data.ts"},
  {name = "b", url = "https://b.example/{symbol}", value_path = "price", time_unit = "ms", timeout_ms = 800},
]
'''


def test_default_is_simulated_and_serves_the_builtin_feeds():
    cfg = default_config().feeds
    assert cfg == FeedsConfig(kind="simulated", feeds={})
    assert cfg.feed("draw") == FeedConfig(kind="simulated", simulate="draw")
    assert cfg.feed("block_height").simulate == "block_height"
    assert cfg.feed("sol_usd") is None
    assert FeedsConfig(kind="http").feed("draw") is None


def test_a_feed_table_is_parsed(tmp_path):
    cfg = load(tmp_path, PRICE).feeds
    f = cfg.feed("sol_usd")
    assert (f.kind, f.consensus, f.min_sources, f.decimals, f.deadline_ms, f.failure_threshold, f.reset_s) == \
        ("http", "median", 2, 6, 10_000, 3, 10)
    assert f.window_s == 300 and f.min_healthy_s == 120 and f.health_check_s == 30  # the defaults
    assert f.sources == (
        FeedSourceConfig(name="a", url="https://a.example/p?s={symbol}&key=s3cr3t-token", value_path="data.price",
                         time_path="data.ts"),
        FeedSourceConfig(name="b", url="https://b.example/{symbol}", value_path="price", time_unit="ms",
                         timeout_ms=800),
    )


def test_describe_shows_feeds_with_urls_masked(tmp_path):
    d = describe(load(tmp_path, PRICE))
    assert d["feeds"]["kind"] == "http"
    assert d["feeds"]["sol_usd"]["consensus"] == "median"
    shown = d["feeds"]["sol_usd"]["sources"][0]["url"]
    assert "s3cr3t" not in shown and shown.startswith("https://a.example/p?")
    assert "s3cr3t" not in repr(load(tmp_path, PRICE))


def test_unknown_keys_and_bad_values_are_refused_naming_them(tmp_path):
    got = errors(tmp_path, '''
[feeds]
kind = "oracle"
[feeds.draw]
consensus = "mean"
k = 0
treshold = 3
sources = [{name = "a", url = "ftp://x", value_path = "v", colour = "red"}, {url = "http://b"}]
''')
    assert got[0] == '[feeds] kind must be one of "simulated", "http", got "oracle"'
    assert '[feeds.draw] consensus must be one of "agree", "median", "first", got "mean"' in got
    assert "[feeds.draw] k must be a positive integer, got 0" in got
    assert any(e.startswith("[feeds.draw] unknown key treshold (known: ") for e in got)
    assert '[feeds.draw] sources[0] url must be a URL starting with http:// or https://, got "ftp://x"' in got
    assert any(e.startswith("[feeds.draw] sources[0] unknown key colour") for e in got)
    assert "[feeds.draw] sources[1] name is missing" in got
    assert "[feeds.draw] sources[1] value_path is missing" in got


def test_consistency_of_a_feed(tmp_path):
    src = '{name = "a", url = "http://127.0.0.1:9/", value_path = "v"}'
    assert errors(tmp_path, '[feeds.x]\nkind = "http"\n') == [
        '[feeds.x] sources must list at least one source when kind is "http"']
    assert errors(tmp_path, f'[feeds.x]\nkind = "http"\nk = 2\nsources = [{src}]\n') == [
        "[feeds.x] k (2) must not exceed the number of sources (1)"]
    assert errors(tmp_path, f'[feeds.x]\nkind = "http"\nconsensus = "median"\nmin_sources = 3\nsources = [{src}]\n') \
        == ["[feeds.x] min_sources (3) must not exceed the number of sources (1)"]
    assert errors(tmp_path, f'[feeds.x]\nkind = "http"\nsources = [{src}, {src}]\n') == [
        '[feeds.x] sources[1] name "a" is used by another source of the feed']
    assert errors(tmp_path, "[feeds.x]\nk = 1\n") == [
        "[feeds.x] simulate must be one of draw, price, block_height, token_status when the feed is simulated and not named after one"]
    assert errors(tmp_path, '[feeds.x]\nsources = "none"\n')[0].startswith("[feeds.x] sources must be an array of tables")
    assert errors(tmp_path, '[feeds."bad name"]\n') == [
        "[feeds.bad name] a feed name must be 1..64 letters, digits, '_' or '-'"]


def test_a_simulated_feed_under_its_own_name(tmp_path):
    cfg = load(tmp_path, '[feeds.sol_usd]\nsimulate = "price"\n').feeds
    assert cfg.feed("sol_usd") == FeedConfig(kind="simulated", simulate="price")


def test_fetch_feed_is_a_framework_effect():
    eff = FetchFeed("feed:m:draw", "somemode", "m", "draw", [["round", 3]])
    assert eff.query == (("round", "3"),)
    assert registry.effect_types["FetchFeed"] is FetchFeed and registry.effect_types["Settle"] is Settle
    assert registry.worker_of(eff) == "feed"


HEADERS = '''
[feeds]
kind = "http"
[feeds.quote]
sources = [
  {name = "a", url = "https://a.example/q", value_path = "v", headers = {X-API-KEY = "env:ARENA_TEST_FEED_KEY", Accept = "application/json"}},
]
'''


def test_source_headers_read_their_secrets_from_the_environment_and_never_show_them(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text(HEADERS)
    cfg = load_config(p, env={"ARENA_TEST_FEED_KEY": "k-s3cr3t"})
    [source] = cfg.feeds.feed("quote").sources
    assert source.headers == (("Accept", "application/json"), ("X-API-KEY", "k-s3cr3t"))
    shown = describe(cfg)["feeds"]["quote"]["sources"][0]["headers"]
    assert shown == {"Accept": "***", "X-API-KEY": "***"}
    assert "k-s3cr3t" not in repr(cfg) and "k-s3cr3t" not in str(describe(cfg))
    # The variable unset: start-up stops naming the header and the variable.
    [why] = errors(tmp_path, HEADERS)
    assert "X-API-KEY" in why and "ARENA_TEST_FEED_KEY" in why and "not set" in why


@pytest.mark.parametrize("headers, says", [
    ('{"X API" = "v"}', "not a header name"),
    ('{X-Key = 5}', "headers must be a table"),
    ('"X-Key: v"', "headers must be a table"),
    ('{X-Key = "a\\r\\nHost: evil"}', "one line"),
])
def test_bad_source_headers_are_refused(tmp_path, headers, says):
    text = HEADERS.replace('{X-API-KEY = "env:ARENA_TEST_FEED_KEY", Accept = "application/json"}', headers)
    assert any(says in e for e in errors(tmp_path, text)), errors(tmp_path, text)
