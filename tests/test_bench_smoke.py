"""Smoke runs of `python -m arena bench` (a few matches, a few seconds each).

They check that the harness works end to end (its own server, a load
generator process, real sockets) and that the report is complete and
self-consistent: messages counted by the clients and by the server agree.
They never check that anything is fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

STEP_FIELDS = {
    "scenario", "matches", "clients", "duration_s", "latency_ms_p50", "latency_ms_p99", "latency_ms_max",
    "latency_samples", "client", "error_codes", "msgs_in_per_client_s", "msgs_out_per_client_s",
    "bytes_in_per_client_s", "bytes_out_per_client_s", "gen_cpu_pct", "gen_saturated", "gen_lag_ms_max",
    "server", "sla", "setup_s", "setup_failures",
}
SERVER_FIELDS = {
    "cpu_pct", "rss_bytes", "rss_per_match_bytes", "tick_hz", "tick_rate_hz", "tick_ms_p50", "tick_ms_p99",
    "tick_ms_max", "lateness_ms_p99", "lateness_ms_max", "inputs_per_s", "matches", "sessions", "connections",
    "net_frames_in", "net_frames_out", "net_bytes_in", "net_bytes_out",
}


def bench(tmp_path: Path, *args: str, timeout: float = 90) -> dict:
    out = tmp_path / "report.json"
    plot = tmp_path / "report.png"
    proc = subprocess.run(
        [sys.executable, "-m", "arena", "bench", *args, "--generators", "1", "--quiet",
         "--json", str(out), "--plot", str(plot)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )
    assert out.exists(), f"no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "largest N at the service level" in proc.stdout  # the table was printed
    return json.loads(out.read_text())


def check_common(report: dict, n: int) -> dict:
    [step] = report["steps"]
    assert STEP_FIELDS <= set(step), STEP_FIELDS - set(step)
    assert SERVER_FIELDS <= set(step["server"]), SERVER_FIELDS - set(step["server"])
    assert step["matches"] == n and step["clients"] == 2 * n and step["setup_failures"] == 0
    c, s = step["client"], step["server"]
    # Both ends counted the same frames (nothing else was on the wire).
    assert s["net_frames_in"] == c["frames_out"]
    assert s["net_frames_out"] == c["frames_in"]
    assert s["net_bytes_out"] == c["bytes_in"]
    assert s["connections"] == 2 * n and s["matches"] >= 0
    assert c["seq_gaps"] == 0 and c["protocol_errors"] == 0 and c["closed"] == 0
    assert 0 < s["tick_rate_hz"] <= s["tick_hz"] * 1.1
    assert s["rss_bytes"] > 0 and 0 <= s["cpu_pct"] < 400
    assert report["idle_rss_bytes"] > 0
    return step


@pytest.mark.parametrize("sender", ["split", "in-loop"])
def test_duel_smoke(tmp_path, sender):
    extra = ("--in-loop-sender",) if sender == "in-loop" else ()
    report = bench(tmp_path, "duel", "--matches", "3", "--duration", "2", "--rate", "5", *extra)
    step = check_common(report, 3)
    c = step["client"]
    assert c["frames_out"] > 0 and c["replies_error"] == 0
    # Each reaction: one ok reply to its sender, one event to each player.
    assert c["replies_ok"] == c["frames_out"] == c["own_reactions"] == c["other_reactions"]
    assert step["latency_samples"] == c["own_reactions"]
    # All on one clock: no latency below zero (or below a loopback round trip).
    assert 0 < step["latency_ms_min"] <= step["latency_ms_p50"] <= step["latency_ms_p99"] <= step["latency_ms_max"]
    assert step["server"]["matches"] == 3
    assert 4 <= step["msgs_in_per_client_s"] <= 6  # --rate 5


def test_duel_with_reads_smoke(tmp_path):
    """--reads: each step twice, the second with a reader's leaderboard.get next to the duel."""
    report = bench(tmp_path, "duel", "--matches", "2", "--duration", "2", "--rate", "5", "--reads", "50",
                   "--read-conns", "2", "--read-board-rows", "300", timeout=120)
    plain, with_reads = report["steps"]
    assert plain["reads"] is None and plain["matches"] == with_reads["matches"] == 2
    r = with_reads["reads"]
    assert r["rate"] == 50 and r["connections"] == 2 and r["errors"] == 0
    assert r["sent"] == r["ok"] > 0 and 0 < r["latency_ms_p50"] <= r["latency_ms_p99"] <= r["latency_ms_max"]
    c, s = with_reads["client"], with_reads["server"]
    # The reader's frames are counted on both ends too.
    assert s["net_frames_in"] == c["frames_out"] and s["net_frames_out"] == c["frames_in"]
    assert with_reads["sla"]["errors"] == 0 and "tick_rate_hz" in s


def test_battles_smoke(tmp_path):
    report = bench(tmp_path, "battles", "--matches", "2", "--duration", "5")
    step = check_common(report, 2)
    assert step["battles_completed"] >= 1 and step["battle_failures"] == 0
    for name in ("queue_join", "queue_to_match", "pay_entry", "submit", "submit_to_reveal", "battle_total"):
        assert step["step_latency_ms"][name]["n"] >= 1, name
    assert step["client"]["replies_error"] == 0


def test_idle_smoke(tmp_path):
    report = bench(tmp_path, "idle", "--matches", "3", "--duration", "1.5", "--engine-matches", "0,300")
    step = check_common(report, 3)
    assert step["client"]["frames_out"] == 0 and step["client"]["frames_in"] == 0
    assert step["server"]["inputs_per_s"] == 0
    engine = report["engine_idle"]
    assert [e["matches"] for e in engine] == [0, 300]
    assert engine[1]["phases"] == ["recording"] and engine[1]["tick_us_p50"] > 0


def test_profile_smoke(tmp_path):
    """The in-process duel profile: every stage measured, every input the duel's."""
    out = tmp_path / "profile.json"
    proc = subprocess.run(
        [sys.executable, "-m", "arena", "bench", "profile", "--matches", "20", "--ticks", "20", "--runs", "2",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "this mean" in proc.stdout and "journal" in proc.stdout
    report = json.loads(out.read_text())
    stages = {"read", "step", "deliver", "flush", "journal"}
    assert set(report["this"]["best"]) == set(report["this"]["mean"]) == stages
    assert len(report["runs"]["this"]) == 2
    for run in report["runs"]["this"]:
        assert run["matches"] == 20 and run["phases"] == ["recording"] and run["ticks"] == 20
        # 40 players at 10/s over 20 ticks at 20 Hz: ~400 reactions, all of them applied
        assert 200 < run["inputs"] == run["accepted"] and run["bad_frames"] == 0
        # each reaction: the sender's reply and two events, in 1 to 3 frames
        assert 1.0 <= run["frames_per_input"] <= 3.0
        assert all(v > 0 for v in run["us_per_input"].values())
        assert abs(sum(run["us_per_input"].values()) - run["us_per_input_total"]) < 0.05


def test_profile_against_a_baseline_checkout(tmp_path):
    """--baseline alternates runs between two checkouts (here: this one twice), each in its own process."""
    out = tmp_path / "ab.json"
    proc = subprocess.run(
        [sys.executable, "-m", "arena", "bench", "profile", "--matches", "10", "--ticks", "10", "--runs", "1",
         "--baseline", str(ROOT), "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert [len(report["runs"][k]) for k in ("base", "this")] == [1, 1]
    assert report["runs"]["base"][0]["inputs"] == report["runs"]["this"][0]["inputs"]  # same seed, same load
    assert isinstance(report["change_pct"], float) and "against the baseline" in proc.stdout


def test_profile_refuses_nonsense_arguments(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "arena", "bench", "profile", "--ticks", "0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "at least 1" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "arena", "bench", "profile", "--baseline", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not an Arena checkout" in proc.stderr


def test_lottery_smoke(tmp_path):
    """`bench lottery`: its own server opens a round by schedule; a few
    watchers and bettors; the report is complete and the money adds up."""
    out = tmp_path / "lottery.json"
    proc = subprocess.run(
        [sys.executable, "-m", "arena", "bench", "lottery", "--watchers", "30", "--bettors", "6",
         "--bet-rate", "30", "--duration", "2", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    r = json.loads(out.read_text())
    assert r["scenario"] == "lottery" and r["watchers"] == 30 and r["bettors"] == 6
    assert r["bets_placed"] + r["bets_skipped_all_bettors_busy"] <= r["bets_due"] and r["bets_placed"] > 0
    assert r["latency_ms"]["confirm"]["n"] >= r["bets_placed"]
    pool = r["pool_at_end"]
    assert pool["yes"]["total"] + pool["no"]["total"] >= r["bets_placed"]  # every stake is at least 1
    assert r["pool_updates_per_watcher_per_s"] <= 1.5  # the throttle (one a second, plus the window's edges)
    assert set(r["server"]) >= {"ticks_per_s", "tick_ms_p99", "lateness_ms_p99"}
    assert "lottery:" in proc.stdout and "service level" in proc.stdout


def test_contest_sockets_smoke(tmp_path):
    """`bench contest --sockets`: its own server, an operator's contest, a
    few participants joined through the ledger; every one gets about one
    rankings push a second, each stamped."""
    out = tmp_path / "contest.json"
    proc = subprocess.run(
        [sys.executable, "-m", "arena", "bench", "contest", "--sockets", "--participants", "20", "--tokens", "10",
         "--duration", "3", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads(out.read_text())
    assert r["scenario"] == "contest-sockets" and r["participants"] == 20 and r["players_at_start"] == 20
    assert not r["setup_errors"] and r["push_latency_ms"]["n"] >= 20
    assert 0.5 <= r["pushes_per_participant_per_s"] <= 1.5  # the throttle: one a second
    assert 0 < r["push_latency_ms"]["p50"] <= r["push_latency_ms"]["p99"] <= r["push_latency_ms"]["max"]
    assert r["server_rss_mb"] and set(r["server"]) >= {"ticks_per_s", "tick_ms_p99"}
    assert "contest over sockets" in proc.stdout and "others%" in proc.stdout


def test_canvas_smoke(tmp_path):
    """`bench canvas` at a tiny scale: every placement sent is answered and
    reaches the probe watchers, both ends count alike, and the in-process
    snapshot measure is there."""
    out = tmp_path / "canvas.json"
    proc = subprocess.run(
        [sys.executable, "-m", "arena", "bench", "canvas", "--watchers", "6", "--placers", "2", "--probes", "3",
         "--placements", "60", "--duration", "2", "--canvas-size", "200", "--join-every", "0.5", "--quiet",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert out.exists(), f"no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert "== arena bench canvas" in proc.stdout
    report = json.loads(out.read_text())
    snap = report["snapshot_cpu"]
    assert snap["join_bitmap_ms"] > 0 and snap["join_bitmap_bytes"] > 0
    assert snap["parts"] == 16 and 0 < snap["part_bytes_max"] < 70_000 and snap["parts_ms"] > 0
    [step] = report["steps"]
    assert step["watchers"] == 6 and step["setup_failures"] == 0
    assert step["placements_sent"] > 0 and step["placements_ok"] == step["placements_sent"]
    assert step["place_errors"] == {}
    # each probe saw each placement once
    assert step["latency_samples"] == 3 * step["placements_sent"]
    assert 0 < step["latency_ms_p50"] <= step["latency_ms_p99"] <= step["latency_ms_max"]
    assert step["seq_gaps"] == 0 and step["protocol_errors"] == 0 and step["closed"] == 0
    assert step["joins"] and all(j["ms"] is not None and j["bitmap_bytes"] > 0 and j["parts"] == 1
                                 and j["parts_bytes"] > 0 for j in step["joins"])
    srv = step["server"]
    assert srv["connections"] >= 8 and srv["rss_bytes"] > 0 and srv["tick_rate_hz"] > 0
    assert srv["net_frames_in_per_s"] > 0 and srv["net_bytes_out_per_s"] > 0
