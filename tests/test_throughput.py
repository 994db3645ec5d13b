"""The cheap pieces of benchmarks/throughput.py: its FLOP count equals the analytic count, its convolution peak is
a positive number, its inputs are the files a user would give, and every shipped model has a training config."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import load_benchmark
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
bench = load_benchmark("throughput")


def test_flop_count_equals_the_analytic_count():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.ConvTranspose2d(8, 4, 2, stride=2),
                        nn.Flatten(), nn.Linear(4 * 16 * 16, 10))
    x = torch.rand(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    conv = 8 * 8 * 8 * 3 * 9          # output pixels x out channels x in channels x kernel
    transposed = 8 * 8 * 8 * 4 * 4    # input pixels x in channels x out channels x kernel
    linear = 4 * 16 * 16 * 10
    assert bench.count_flops(net, x) == 2 * 2 * (conv + transposed + linear)  # batch 2, multiply-add = 2


def test_conv_peak_is_positive_at_tiny_sizes():
    peak = bench.conv_peak(widths=(4,), sides=(8, 12), batch=1, repeats=1)
    assert peak["gflop_per_s"] > 0
    assert len(peak["rows"]) == 2 and peak["best"] in peak["rows"]
    assert bench.rate(2e9, 1.0, 4.0)["fraction_of_peak"] == 0.5


def test_cli_inputs_are_a_16_bit_slice_or_an_npy(tmp_path):
    import tifffile

    slice_ = torch.rand(1, 1, 6, 5)
    path = bench.write_cli_input(torch.round(slice_ * 65535) / 65535, 4, tmp_path)
    written = tifffile.imread(path)
    assert written.dtype == np.uint16 and written.shape == (6, 5)
    np.testing.assert_allclose(written / 65535, slice_[0, 0].numpy(), atol=1 / 65535)
    stack = torch.rand(3, 1, 4, 4)
    assert np.load(bench.write_cli_input(stack, 1, tmp_path)).shape == (3, 4, 4)
    bursts = torch.rand(3, 8, 4, 4)                                   # a burst model: the first scene's 8 frames
    np.testing.assert_array_equal(np.load(bench.write_cli_input(bursts, 1, tmp_path, frames=8)), bursts[0].numpy())


def test_the_cli_row_reports_the_fastest_of_its_fresh_processes(tmp_path, monkeypatch):
    calls, seconds = [], iter([1.0, 9.0, 5.0, 7.0])  # the load-only process, then three CLI runs

    def measured(cmd, threads, log):  # what the benchmark's watcher reports of a fresh process, without one
        calls.append(cmd)
        if "-o" in cmd:
            Path(cmd[cmd.index("-o") + 1]).write_bytes(bytes(2**20))  # a 1 MB output file
        return {"seconds": next(seconds), "peak_rss_mb": 100.0 + len(calls)}

    monkeypatch.setattr(bench, "run_measured", measured)
    row = bench.cli_row("traces-mnist-unet", torch.rand(2, 1, 4, 4), 1, 1e9, 1.0, 1, tmp_path, repeats=3)
    assert len(calls) == 4 and all("--force" in c for c in calls[1:])  # a rerun overwrites the last one's output
    assert row["seconds"] == 5.0 and row["peak_rss_mb"] == 104.0 and row["loaded_rss_mb"] == 101.0
    assert row["output_mb"] == 1.0 and row["working_set_over_output"] == 3.0


def test_every_shipped_model_has_a_training_config():
    configs = bench.training_configs(list(bench.SOURCES))
    assert sum(len(names) for names in configs.values()) == len(bench.SOURCES)
    for name in configs:
        assert (ROOT / "configs" / f"{name}.yaml").is_file()


def test_markdown_names_a_quick_run(tmp_path):
    peak = {"gflop_per_s": 10.0, "best": {"width": 4, "side": 8, "batch": 1, "gflop_per_s": 10.0},
            "rows": [{"width": 4, "side": 8, "batch": 1, "gflop_per_s": 10.0}]}
    text = bench.markdown({"cpu": "x", "threads": 1, "torch": "t", "quick": True, "peak": peak, "inference": [],
                           "training": []})
    assert "not results" in text and "10.0 GFLOP/s" in text


def test_the_bare_step_runs_a_conditional_strategy_on_one_fixed_batch(tiny_npz):
    from conftest import tiny_overrides

    from ganrecon.config import TrainConfig
    from ganrecon.training import strategy_for

    config = TrainConfig(**tiny_overrides(tiny_npz))
    strategy = strategy_for(config.task)(config, torch.device("cpu"), name="bare")
    assert bench.bare_step_seconds(strategy, 0, config.seed, repeats=2) > 0


def test_validation_is_averaged_over_the_runs_validations():
    """The first validation pays for what later ones reuse (a cached prior): the mean counts it once per run,
    which ends at its steps or its time budget, whichever comes first at this loop's speed."""
    from ganrecon.config import TrainConfig

    planned = TrainConfig(steps=1000, eval_every=250)
    assert bench.run_validation_seconds(planned, 0.5, 10.0, 1.0) == (3.25, 4)
    budgeted = TrainConfig(steps=1000, eval_every=250, max_seconds=300)  # 600 steps at 0.5 s: 2 validations
    assert bench.run_validation_seconds(budgeted, 0.5, 10.0, 1.0) == (5.5, 2)
    short = TrainConfig(steps=1000, eval_every=250, max_seconds=60)
    assert bench.run_validation_seconds(short, 0.5, 10.0, 1.0) == (10.0, 1)


def test_a_loop_below_its_bare_step_is_explained_by_its_batch_ema_and_validation(tiny_npz):
    """The extras are measured on the strategy itself (a batch from the step's stream, the EMA update), and a
    config below 85% of its bare step gets a line that splits the difference; one above it gets none."""
    from conftest import tiny_overrides

    from ganrecon.config import TrainConfig
    from ganrecon.training import strategy_for

    config = TrainConfig(**tiny_overrides(tiny_npz, ema=0.99))
    strategy = strategy_for(config.task)(config, torch.device("cpu"), name="extras")
    batch_s, ema_s = bench.loop_extras_seconds(strategy, 0, config.seed, repeats=2)
    assert batch_s > 0 and ema_s > 0
    row = {"config": "slow", "batch_size": 10, "bare_images_per_s": 100.0, "loop_step_images_per_s": 80.0,
           "loop_images_per_s": 50.0, "loop_over_bare": 0.5, "batch_seconds": 0.02, "ema_seconds": 0.001}
    lines = bench.loop_shortfall_lines([row, {**row, "config": "fast", "loop_over_bare": 0.9}])
    assert lines == ["- slow: a loop step takes 125.0 ms against the bare step's 100.0; making its batch (data and "
                     "degradation) takes 20.0 ms, the EMA update 1.0 ms, and validation and checkpoints add "
                     "75.0 ms per step."]


def test_the_reference_is_the_higher_of_two_peak_measurements_and_every_fraction_follows_it():
    """A slow spell during one peak measurement would inflate every percentage: the run measures the peak before
    and after the inference rows and recomputes each row's fraction against the higher one."""
    low = {"gflop_per_s": 100.0, "best": {}, "rows": []}
    high = {"gflop_per_s": 400.0, "best": {}, "rows": []}
    peak = bench.higher_peak(low, high)
    assert peak["gflop_per_s"] == 400.0 and peak["measured"] == [100.0, 400.0]
    rows = [{"raw": bench.rate(2e9, 0.1, 100.0), "tiled": None, "cli": {**bench.rate(1e9, 0.1, 100.0), "file": "x"}}]
    assert rows[0]["raw"]["fraction_of_peak"] == pytest.approx(0.2)
    bench.rescale_to_peak(rows, peak["gflop_per_s"])
    assert rows[0]["raw"]["fraction_of_peak"] == pytest.approx(0.05)
    assert rows[0]["cli"]["fraction_of_peak"] == pytest.approx(0.025)
    assert "100 and 400 GFLOP/s" in bench.measured_note(peak)
