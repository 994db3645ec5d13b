"""benchmarks/seismic_spacing.py's bookkeeping: leads over the consensus per spacing and split, table and figure."""

import math

from conftest import load_benchmark

bench = load_benchmark("seismic_spacing")


def fake_rows():
    """Every spacing and split, seeds 100-102 (Ormsby, Klauder, Ricker); the model leads by seed - 100 dB, and
    by 10 dB more on linear-only gathers."""
    rows = []
    for parts in bench.PARTS:
        for dx in bench.SPACINGS:
            for seed in (100, 101, 102):
                lead = (seed - 100) + (10.0 if parts == "linear" else 0.0)
                rows.append({"seed": seed, "dx_m": dx, "parts": parts, "wavelet": bench.WAVELETS[seed % 3],
                             "snr_missing": {"consensus": 5.0, "m": 5.0 + lead}})
    return rows


def test_leads_are_averaged_per_spacing_within_a_split():
    rows = fake_rows()
    assert bench.gains(rows, "m", "parts", "all") == {dx: 1.0 for dx in bench.SPACINGS}
    assert bench.gains(rows, "m", "parts", "linear")[25.0] == 11.0
    whole = [r for r in rows if r["parts"] == "all"]
    assert bench.gains(whole, "m", "wavelet", "klauder")[50.0] == 1.0   # seed 101: 101 % 3 = 2, Klauder
    assert math.isnan(bench.gains(rows[:1], "m", "parts", "all")[50.0])  # no gather there: no number


def test_wavelet_lines_use_the_whole_gathers_only():
    rows = fake_rows()
    lines = {(k, v): subset for k, v, subset in bench.splits(rows)}
    assert set(lines) == {("parts", p) for p in bench.PARTS} | {("wavelet", w) for w in bench.WAVELETS}
    assert all(r["parts"] == "all" for r in lines["wavelet", "ricker"])


def test_table_and_figure(tmp_path):
    env = {"seeds": 3, "threads": 2, "cpu": "test", "seconds": 1.0, "models": {"m": "a model"}}
    data = {"environment": env, "labels": ["m"], "rows": fake_rows()}
    text = bench.markdown(data)
    assert text.startswith("## Where the seismic model stops helping")
    assert "| m | parts linear | +11.00 | +11.00 | +11.00 | +11.00 |" in text
    bench.figure(data, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000
