"""config.toml loading: the shipped file, defaults, strict checks, env overrides."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from arena import config as config_mod
from arena.config import (
    AIConfig,
    ArenaConfig,
    ConfigError,
    LedgerConfig,
    MediaConfig,
    NetConfig,
    RedisConfig,
    ServerConfig,
    StoreConfig,
    TipsConfig,
    default_config,
    describe,
    load_config,
)
from arena.engine.config import EngineConfig
from arena.modes.roast.settings import RoastConfig

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config.toml"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def load_text(tmp_path: Path, text: str, env: dict | None = None):
    return load_config(write(tmp_path, text), env={} if env is None else env)


def error_of(tmp_path: Path, text: str, env: dict | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text, env)
    return str(info.value)


# --- the shipped file and the defaults ---------------------------------------


def test_shipped_config_loads_with_expected_values():
    cfg = load_config(SHIPPED, env={})
    assert cfg.source == str(SHIPPED)
    assert cfg.server == ServerConfig(host="127.0.0.1", port=8765, tick_hz=20, name="arena", metrics_port=0)
    assert cfg.engine == EngineConfig.of(
        tick_hz=20,
        seed=0,
        modes={"roast": RoastConfig(
            rounds=3,
            countdown_ms=3000,
            time_limit_ms=30000,
            entry_deadline_ms=60000,
            disconnect_grace_ms=30000,
            platform_fee_bps=500,
            tiers={"bronze": 100, "silver": 500, "gold": 2000, "diamond": 10000},
        )},
    )
    assert cfg.ledger == LedgerConfig(kind="embedded", faucet_amount=10000)
    assert cfg.ai.kind == "embedded"
    assert cfg.store.kind == "embedded" and cfg.store.path == "var/arena.sqlite"
    # Apart from the dev faucet and a fresh random seed per start, the
    # shipped file is exactly the defaults.
    expected = attrs.evolve(
        default_config(),
        ledger=attrs.evolve(default_config().ledger, faucet_amount=10000),
        engine=attrs.evolve(default_config().engine, seed=0),
        source=str(SHIPPED),
    )
    assert cfg == expected


def test_shipped_config_lists_every_key():
    import tomllib

    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    for name, section in config_mod.SCHEMA.items():
        table = data
        for part in name.split("."):
            table = table[part]
        missing = [k for k in section.keys if k not in table]
        assert not missing, f"config.toml [{name}] lacks {missing}"


def test_shipped_config_has_the_keys_tools_rely_on():
    import tomllib

    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    assert {"host", "port", "tick_hz"} <= set(data["server"])
    assert {"rounds", "countdown_ms", "time_limit_ms", "entry_deadline_ms", "disconnect_grace_ms",
            "platform_fee_bps"} <= set(data["roast"])
    assert set(data["roast"]["tiers"]) == {"bronze", "silver", "gold", "diamond"}
    assert data["ledger"]["kind"] == "embedded" and "faucet_amount" in data["ledger"]
    assert data["ai"]["kind"] == "embedded"
    assert data["store"]["kind"] == "embedded" and "path" in data["store"]


def test_config_doc_lists_every_key_and_env_var():
    doc = (ROOT / "docs" / "CONFIG.md").read_text(encoding="utf-8")
    for name, section in config_mod.SCHEMA.items():
        assert f"[{name}]" in doc, name
        for key in section.keys:
            assert f"`{key}`" in doc, f"docs/CONFIG.md lacks [{name}] {key}"
    for var in config_mod.ENV_OVERRIDES:
        assert f"`{var}`" in doc, var


def test_default_config_needs_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARENA_PORT", "9999")  # defaults ignore the environment
    cfg = default_config()
    assert cfg == ArenaConfig()
    assert cfg.engine == EngineConfig(seed=0)  # a random seed when the world is created
    assert cfg.server.port == 8765 and cfg.ledger.faucet_amount == 0
    assert (cfg.ledger.kind, cfg.ai.kind, cfg.store.kind, cfg.media.kind) == ("embedded", "embedded", "embedded", "local")
    assert cfg.redis.url == "" and cfg.tips.fee_bps == 200 and cfg.net == NetConfig()
    assert cfg.source == "<defaults>"


def test_empty_file_gives_the_defaults(tmp_path):
    cfg = load_text(tmp_path, "")
    assert attrs.evolve(cfg, source="<defaults>") == default_config()


def test_partial_file_keeps_other_defaults(tmp_path):
    cfg = load_text(tmp_path, "[roast]\nrounds = 5\n[ai]\ntemperature = 1\n")
    assert cfg.engine.modes["roast"].rounds == 5
    assert cfg.engine.modes["roast"].time_limit_ms == RoastConfig().time_limit_ms
    assert cfg.ai.temperature == 1.0 and isinstance(cfg.ai.temperature, float)


def test_server_tick_hz_feeds_the_engine(tmp_path):
    cfg = load_text(tmp_path, "[server]\ntick_hz = 30\n[engine]\nseed = 0\n")
    assert cfg.server.tick_hz == 30 and cfg.engine.tick_hz == 30 and cfg.engine.seed == 0


def test_values_are_frozen():
    cfg = default_config()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        cfg.server.port = 1  # type: ignore[misc]


# --- the file itself -----------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml", env={})
    msg = str(info.value)
    assert "nope.toml" in msg and "no such file" in msg


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, env={})


def test_malformed_toml_reports_the_parse_error(tmp_path):
    msg = error_of(tmp_path, "[server]\nport = = 1\n")
    assert msg.startswith(f"{tmp_path / 'config.toml'}: not valid TOML: ")
    assert "line 2" in msg


def test_default_path_is_config_toml_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^config\.toml: no such file"):
        load_config(env={})
    (tmp_path / "config.toml").write_text("[server]\nport = 1234\n")
    cfg = load_config(env={})
    assert cfg.server.port == 1234 and cfg.source == "config.toml"


# --- unknown names -------------------------------------------------------------


def test_unknown_section(tmp_path):
    msg = error_of(tmp_path, "[servr]\nport = 1\n")
    assert "unknown section [servr]" in msg and "did you mean server?" in msg


def test_unknown_key(tmp_path):
    msg = error_of(tmp_path, "[roast]\nrounds_x = 3\n")
    assert msg.startswith(f"{tmp_path / 'config.toml'}: unknown key [roast] rounds_x (known: ")
    assert "time_limit_ms" in msg and "did you mean rounds?" in msg


def test_key_in_the_wrong_section_says_where_it_belongs(tmp_path):
    msg = error_of(tmp_path, "[roast]\ntick_hz = 20\n")
    assert "unknown key [roast] tick_hz" in msg and "belongs in [server]" in msg


def test_unknown_key_in_subtable_and_top_level(tmp_path):
    assert "unknown key [roast.tiers] platinum" in error_of(
        tmp_path, "[roast.tiers]\nbronze=1\nsilver=2\ngold=3\ndiamond=4\nplatinum=5\n")
    assert "unknown section [port]" in error_of(tmp_path, "port = 1\n")


def test_section_that_is_not_a_table(tmp_path):
    assert "server must be a table" in error_of(tmp_path, 'server = "x"\n')
    assert "[roast] tiers must be a table" in error_of(tmp_path, "[roast]\ntiers = 5\n")


def test_every_problem_is_reported(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, '[server]\nport = "x"\nbogus = 1\n[roast]\nrounds = 0\n')
    assert len(info.value.errors) == 3
    assert str(info.value) == "\n".join(info.value.errors)


# --- wrong values --------------------------------------------------------------

BAD_VALUES = [
    # (toml, expected message tail)
    ('[roast]\ntime_limit_ms = "abc"', '[roast] time_limit_ms must be a positive integer, got "abc"'),
    ("[server]\nport = true", "[server] port must be a port number 0..65535 (0 = any free port), got true"),
    ("[roast]\nrounds = 3.0", "[roast] rounds must be a positive integer, got 3.0"),
    ("[roast]\nrounds = 0", "[roast] rounds must be a positive integer, got 0"),
    ("[roast]\ncountdown_ms = -1", "[roast] countdown_ms must be a non-negative integer, got -1"),
    ("[ledger]\nfaucet_amount = -5", "[ledger] faucet_amount must be a non-negative integer, got -5"),
    ("[net]\nsend_queue_frames = 0", "[net] send_queue_frames must be a positive integer, got 0"),
    ("[roast]\nplatform_fee_bps = 10001", "[roast] platform_fee_bps must be an integer 0..10000 (basis points), got 10001"),
    ("[tips]\nfee_bps = 20000", "[tips] fee_bps must be an integer 0..10000 (basis points), got 20000"),
    ("[server]\nport = 70000", "[server] port must be a port number 0..65535"),
    ("[server]\nhost = 127", "[server] host must be a non-empty string, got 127"),
    ('[server]\nhost = ""', '[server] host must be a non-empty string, got ""'),
    ("[server]\ntick_hz = 0", "[server] tick_hz must be a positive integer, got 0"),
    ('[engine]\nseed = "1"', '[engine] seed must be a non-negative integer, got "1"'),
    ('[ledger]\nkind = "ethereum"', '[ledger] kind must be one of "embedded", "solana", "bsv", got "ethereum"'),
    ('[ai]\nkind = "anthropic"', '[ai] kind must be one of "embedded", "openai", got "anthropic"'),
    ('[store]\nkind = "mysql"', '[store] kind must be one of "embedded", "postgres", got "mysql"'),
    ('[media]\nkind = "gcs"', '[media] kind must be one of "local", "s3", got "gcs"'),
    ('[ledger]\ncommitment = "max"', '[ledger] commitment must be one of "processed", "confirmed", "finalized"'),
    ('[ai]\nmoderation = "yes"', '[ai] moderation must be true or false, got "yes"'),
    ("[ai]\nmoderation = 1", "[ai] moderation must be true or false, got 1"),
    ("[ai]\ntemperature = 3.5", "[ai] temperature must be a number 0..2, got 3.5"),
    ("[ai]\ntemperature = true", "[ai] temperature must be a number 0..2, got true"),
    ("[ai]\ntemperature = nan", "[ai] temperature must be a number 0..2, got nan"),
    ("[ai]\ntimeout_ms = 1.5", "[ai] timeout_ms must be a positive integer, got 1.5"),
    ('[redis]\nurl = "localhost:6379"', '[redis] url must be "" (unset) or a URL starting with redis://'),
    ("[roast.tiers]\nbronze = 0\nsilver = 1\ngold = 2\ndiamond = 3",
     "[roast.tiers] bronze must be a positive integer (entry fee in base units), got 0"),
    ('[roast.tiers]\nbronze = "100"\nsilver = 1\ngold = 2\ndiamond = 3',
     '[roast.tiers] bronze must be a positive integer (entry fee in base units), got "100"'),
    ("[net]\nmax_frame_bytes = [1]", "[net] max_frame_bytes must be a positive integer, got an array"),
]


@pytest.mark.parametrize("text,tail", BAD_VALUES, ids=[t for t, _ in BAD_VALUES])
def test_bad_value_names_the_key(tmp_path, text, tail):
    msg = error_of(tmp_path, text + "\n")
    assert msg.startswith(f"{tmp_path / 'config.toml'}: "), msg
    assert tail in msg, msg


def test_message_format_matches_the_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text('[roast]\ntime_limit_ms = "abc"\n')
    with pytest.raises(ConfigError) as info:
        load_config("config.toml", env={})
    assert str(info.value) == 'config.toml: [roast] time_limit_ms must be a positive integer, got "abc"'


def test_missing_tier(tmp_path):
    msg = error_of(tmp_path, "[roast.tiers]\nbronze = 100\nsilver = 500\ngold = 2000\n")
    assert "[roast.tiers] diamond is missing" in msg


def test_kind_needs_its_settings(tmp_path):
    msg = error_of(tmp_path, '[ledger]\nkind = "solana"\n')
    assert "[ledger] rpc_url must be set" in msg and "[ledger] mint must be set" in msg
    assert "[store] dsn must be set" in error_of(tmp_path, '[store]\nkind = "postgres"\n')
    assert "[media] bucket must be set" in error_of(tmp_path, '[media]\nkind = "s3"\n')
    msg = error_of(tmp_path, "", env={"ARENA_STORE_KIND": "postgres"})
    assert "[store] dsn must be set" in msg and "ARENA_STORE_KIND" in msg
    cfg = load_text(tmp_path, '[ledger]\nkind = "solana"\nrpc_url = "https://api.devnet.solana.com"\nmint = "M"\n')
    assert cfg.ledger.kind == "solana"


def test_frame_limits_must_be_consistent(tmp_path):
    msg = error_of(tmp_path, "[net]\nmax_frame_bytes = 1000\n")
    assert "[net] max_plain_frame_bytes (65536) must not exceed [net] max_frame_bytes (1000)" in msg


def test_engine_validator_errors_are_readdressed_to_the_key():
    label = "config.toml"
    for exc_cls, section, kwargs, expected in [
        (RoastConfig, "roast", {"time_limit_ms": 0},
         "config.toml: [roast] time_limit_ms must be a positive integer, got 0"),
        (RoastConfig, "roast", {"tiers": {"bronze": 1}},
         "config.toml: [roast.tiers] must be exactly bronze, silver, gold, diamond"),
        (RoastConfig, "roast", {"tiers": {"bronze": 1, "silver": 1, "gold": 1, "diamond": -1}},
         "config.toml: [roast.tiers] diamond must be a positive integer (base units), got -1"),
        (EngineConfig, "engine", {"tick_hz": 0}, "config.toml: [server] tick_hz must be a positive integer, got 0"),
        (EngineConfig, "engine", {"seed": -1}, "config.toml: [engine] seed must be a non-negative integer, got -1"),
    ]:
        with pytest.raises(ValueError) as info:
            exc_cls(**kwargs)
        assert config_mod._engine_error(info.value, label, section) == expected
    assert config_mod._engine_error(ValueError("something else"), label, "roast") == (
        "config.toml: [roast] settings rejected: something else")


def test_engine_rejection_at_build_time_is_a_config_error(tmp_path, monkeypatch):
    """If the engine refuses values the schema let through, the error still names the key."""

    def refuse(**kwargs):
        raise ValueError(f"max_text_chars must be at most 100, got {kwargs['max_text_chars']}")

    from arena.engine.registry import registry

    monkeypatch.setattr(registry.get("roast"), "settings", refuse)
    msg = error_of(tmp_path, "[roast]\nmax_text_chars = 500\n")
    assert msg == f"{tmp_path / 'config.toml'}: [roast] max_text_chars must be at most 100, got 500"


# --- environment overrides -----------------------------------------------------


def test_env_overrides(tmp_path):
    env = {
        "ARENA_HOST": "0.0.0.0",
        "ARENA_PORT": "9000",
        "ARENA_LEDGER_KIND": "embedded",
        "ARENA_AI_KIND": "openai",
        "ARENA_STORE_KIND": "postgres",
        "ARENA_STORE_DSN": "postgresql://arena:pw@db:5432/arena",
        "ARENA_REDIS_URL": "redis://cache:6379/0",
        "ARENA_STORE_PATH": "/data/arena.sqlite",
        "ARENA_ESCROW_KEYPAIR": "/secrets/escrow.json",
        "UNRELATED": "ignored",
    }
    cfg = load_config(SHIPPED, env=env)
    assert cfg.server.host == "0.0.0.0" and cfg.server.port == 9000
    assert cfg.ai.kind == "openai" and cfg.store.kind == "postgres"
    assert cfg.store.dsn == "postgresql://arena:pw@db:5432/arena"
    assert cfg.store.path == "/data/arena.sqlite"
    assert cfg.redis.url == "redis://cache:6379/0"
    assert cfg.ledger.escrow_keypair == "/secrets/escrow.json"


def test_env_wins_over_the_file_and_empty_string_turns_redis_off(tmp_path):
    cfg = load_text(tmp_path, '[server]\nport = 1111\n[redis]\nurl = "redis://x:6379"\n',
                    env={"ARENA_PORT": " 2222 ", "ARENA_REDIS_URL": ""})
    assert cfg.server.port == 2222 and cfg.redis.url == ""


def test_env_defaults_to_os_environ(tmp_path, monkeypatch):
    monkeypatch.setenv("ARENA_PORT", "4321")
    assert load_config(write(tmp_path, "")).server.port == 4321


@pytest.mark.parametrize("var,value,tail", [
    ("ARENA_PORT", "abc", 'must be a port number 0..65535 (0 = any free port), got "abc"'),
    ("ARENA_PORT", "80.5", 'got "80.5"'),
    ("ARENA_PORT", "99999", "got 99999"),
    ("ARENA_LEDGER_KIND", "bitcoin", 'must be one of "embedded", "solana", "bsv", got "bitcoin"'),
    ("ARENA_AI_KIND", "", 'must be one of "embedded", "openai", got ""'),
    ("ARENA_STORE_KIND", "sqlite", 'must be one of "embedded", "postgres", got "sqlite"'),
    ("ARENA_STORE_DSN", "mysql://x", 'must be "" (unset) or a URL starting with postgres://'),
    ("ARENA_REDIS_URL", "cache:6379", 'must be "" (unset) or a URL starting with redis://'),
    ("ARENA_HOST", "", 'must be a non-empty string, got ""'),
])
def test_bad_env_value_names_the_variable(tmp_path, var, value, tail):
    msg = error_of(tmp_path, "", env={var: value})
    assert msg.startswith(f"environment: {var} (overrides ["), msg
    assert tail in msg, msg


# --- secrets -------------------------------------------------------------------


def test_secrets_are_masked_in_repr_describe_and_errors(tmp_path):
    text = """
[media]
kind = "s3"
bucket = "b"
access_key = "AKIAEXAMPLE"
secret_key = "s3cr3t-value"
[ledger]
rpc_url = "https://rpc.example.com/v2/apikey-123?api-key=apikey-456"
[ai]
base_url = "https://llm.example.com/v1?key=apikey-789"
"""
    env = {"ARENA_STORE_DSN": "postgresql://arena:hunter2@db:5432/arena",
           "ARENA_REDIS_URL": "redis://:redispw@cache:6379/0"}
    cfg = load_text(tmp_path, text, env)
    assert cfg.media.secret_key == "s3cr3t-value"  # the value itself is usable
    shown = repr(cfg) + repr(describe(cfg))
    for secret in ("AKIAEXAMPLE", "s3cr3t-value", "hunter2", "redispw", "apikey-123", "apikey-456", "apikey-789"):
        assert secret not in shown, secret
    d = describe(cfg)
    assert d["media"]["secret_key"] == "***" and d["media"]["bucket"] == "b"
    assert d["store"]["dsn"] == "postgresql://arena:***@db:5432/arena"
    assert d["redis"]["url"] == "redis://:***@cache:6379/0"
    assert d["ledger"]["rpc_url"] == "https://rpc.example.com/***"
    assert "OPENAI_API_KEY" not in shown and "api_key" not in describe(cfg)["ai"]
    # A bad value of a masked key is not echoed either.
    msg = error_of(tmp_path, "", env={"ARENA_STORE_DSN": "mysql://root:toor@db/x"})
    assert "toor" not in msg and "ARENA_STORE_DSN" in msg


def test_describe_mirrors_the_file_layout():
    d = describe(default_config())
    assert d["source"] == "<defaults>"
    assert d["server"]["port"] == 8765 and d["engine"] == {"seed": 0}
    assert d["roast"]["tiers"] == {"bronze": 100, "silver": 500, "gold": 2000, "diamond": 10000}
    assert d["media"]["secret_key"] == ""
    import json

    json.dumps(d)  # loggable as JSON


# --- the classes themselves ----------------------------------------------------


def test_classes_check_their_values_when_built_directly():
    with pytest.raises(ValueError, match=r"port must be a port number"):
        ServerConfig(port=-1)
    with pytest.raises(ValueError, match=r'kind must be one of "embedded", "solana"'):
        LedgerConfig(kind="nope")
    with pytest.raises(ValueError, match="fee_bps"):
        TipsConfig(fee_bps=True)
    assert AIConfig(temperature=1).temperature == 1.0
    assert StoreConfig(kind="postgres").kind == "postgres"  # kind requirements are a load-time check
    assert RedisConfig(url="redis://h:1") == RedisConfig(url="redis://h:1")
    assert MediaConfig().kind == "local"


def test_schema_is_one_declaration_per_key():
    # Every owned field carries its rule; every engine roast setting is configurable.
    for cls in (ServerConfig, NetConfig, LedgerConfig, AIConfig, MediaConfig, StoreConfig, RedisConfig, TipsConfig):
        for a in attrs.fields(cls):
            assert config_mod._META in a.metadata, f"{cls.__name__}.{a.name}"
    roast_fields = {a.name for a in attrs.fields(RoastConfig)} - {"tiers"}
    # ... plus the mode's rate buckets (not engine state: the gateway's)
    assert set(config_mod.SCHEMA["roast"].keys) == roast_fields | {"reactions_per_s", "reactions_burst"}


def test_a_mode_s_rate_bucket_is_configured_in_its_section_and_at_its_old_place(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[roast]\nreactions_per_s = 7\nreactions_burst = 3\n")
    assert load_config(path, env={}).buckets[("roast", "reactions")] == (7, 3)
    path.write_text("[net]\nreactions_per_s = 9\nreaction_burst = 4\n")  # where they used to be
    assert load_config(path, env={}).buckets[("roast", "reactions")] == (9, 4)
    path.write_text("[net]\nreactions_per_s = 9\n[roast]\nreactions_per_s = 5\n")  # the new place wins
    assert load_config(path, env={}).buckets[("roast", "reactions")] == (5, 20)
    path.write_text("[roast]\nreactions_per_s = 0\n")
    with pytest.raises(ConfigError, match=r"\[roast\] reactions_per_s must be"):
        load_config(path, env={})
