"""`python -m arena bench meme` runs and reports what it measures (no
timing is asserted: speed goes to bench/RESULTS.md): every viewer is
charged once per second over both phases, settlements are batched, and the
report has its fields."""

from __future__ import annotations

import io

from arena.benchkit.meme_engine import measure, print_report


def test_bench_meme_meters_every_viewer_each_second_and_reports():
    r = measure(viewers=200, seconds=3)
    assert r["views_running_at_end"] == 200
    # 6 s over the two phases, each viewer charged 1 per whole second (the first lags by under a second)
    assert 200 * 5 <= r["charged"] <= 200 * 6
    assert r["metering_ticks"]["n"] == r["ticks_with_beats"]["n"] == 3 * 20
    assert r["settlements"] < 60  # batched, never one per viewer-second
    out = io.StringIO()
    print_report(r, out)
    assert "200 viewers" in out.getvalue() and "settlements" in out.getvalue()
