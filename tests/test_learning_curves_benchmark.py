"""benchmarks/learning_curves.py: campaigns, their stage ends and the projection of where more compute leads."""


import pytest
from conftest import load_benchmark

bench = load_benchmark("learning_curves")


def run(name, minutes, scores, metric="snr", baseline=9.8):
    return {"run": name, "metric": metric, "val_degrade": "columns:random:0.5",
            "points": [{"cpu_minutes": m, "model": s, "best_baseline": "consensus", "baseline": baseline}
                       for m, s in zip(minutes, scores)]}


def test_stages_on_one_validation_set_are_one_campaign_and_a_losing_probe_adds_no_stage_end():
    stages = [run(f"stage{i}", [100 * i + 10, 100 * i + 90], [10 + i - 0.3, 10 + i]) for i in range(1, 4)]
    probe = run("probe", [260, 280], [10.5, 10.8])          # beside stage 2, below where stage 1 ended
    other = run("other", [50, 60], [30.0, 31.0], baseline=25.0)  # another validation set
    groups = bench.campaigns([stages[2], probe, other, stages[0], stages[1]])
    assert sorted(len(g) for g in groups) == [1, 4]
    campaign = next(g for g in groups if len(g) == 4)
    assert [c["run"] for c in campaign] == ["stage1", "probe", "stage2", "stage3"]
    assert bench.stage_ends(campaign) == [(190, 11), (290, 12), (390, 13)]


@pytest.mark.parametrize("metric, sign", [("snr", 1.0), ("mse_missing", -1.0)])
def test_the_projection_finds_the_limit_a_saturating_campaign_approaches(metric, sign):
    limit, gap, power, spent = 14.0, 1.5, 1.2, 1000.0
    minutes = [300, 450, 600, 800, 1000]
    scores = [sign * float(bench.saturating(m / spent, limit, gap, power)) for m in minutes]
    campaign = [run(f"stage{i}", [m], [s], metric=metric) for i, (m, s) in enumerate(zip(minutes, scores))]
    p = bench.projection(campaign)
    assert p["limit"] == pytest.approx(sign * limit, abs=1e-3) and p["residual_sd"] < 1e-4
    assert p["at_2x"] == pytest.approx(sign * (limit - gap * 2 ** -power), abs=1e-3)
    assert sign * p["at_4x"] > sign * p["at_2x"] > sign * scores[-1]
    assert bench.projection(campaign[:3]) is None  # too few stage ends to fit three parameters honestly
