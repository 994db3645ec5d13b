import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_overrides
from safetensors.torch import load_file

from ganrecon.checkpoints import latest_checkpoint
from ganrecon.config import apply_overrides, load_config
from ganrecon.errors import GanreconError
from ganrecon.training import TrainingDiverged, train


def _weights(run: Path) -> dict:
    return load_file(str(run / "model.safetensors"))


def test_tiny_training_lowers_content_loss_and_writes_outputs(tmp_path, tiny_npz):
    config = load_config(overrides=tiny_overrides(tiny_npz, steps=40, eval_every=20, checkpoint_every=20))
    result = train(config, tmp_path / "run", progress=False)
    with open(tmp_path / "run" / "log.csv") as fh:
        content = [float(r["g_content"]) for r in csv.DictReader(fh)]
    assert len(content) == 40
    assert sum(content[-5:]) / 5 < 0.7 * sum(content[:5]) / 5
    for name in ("config.yaml", "model.safetensors", "model.json", "losses.png", "validation.csv", "summary.json"):
        assert (tmp_path / "run" / name).is_file(), name
    assert {"model", "zero-fill", "linear"} <= set(result.last_validation)
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["threads"] == torch.get_num_threads() and "echo" not in meta  # the threads it ran on


def test_resume_after_a_stop_gives_the_same_weights(tmp_path, tiny_npz):
    config = load_config(overrides=tiny_overrides(tiny_npz))
    train(config, tmp_path / "straight", progress=False)
    # stop after 6 steps: the last checkpoint is step 4, so steps 5-6 are lost and redone
    partial = train(config, tmp_path / "resumed", progress=False, stop_after=6)
    assert partial.step == 6
    train(config, tmp_path / "resumed", resume=True, progress=False)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_amp_trains_in_fp32_and_says_so_on_a_cpu_without_bf16_units(tmp_path, tiny_npz, monkeypatch, capsys):
    """Emulated bf16 made a CPU step 14x dearer: `amp: true` there runs fp32, prints why, and the bundle records no
    autocast type."""
    monkeypatch.setattr("ganrecon.training.conditional.bf16_native", lambda device: False)
    train(load_config(overrides=tiny_overrides(tiny_npz, steps=2, amp=True)), tmp_path / "run", progress=False)
    assert "no bf16 units" in capsys.readouterr().out
    assert "amp" not in json.loads((tmp_path / "run" / "model.json").read_text())


def test_existing_run_needs_resume(tmp_path, tiny_npz):
    config = load_config(overrides=tiny_overrides(tiny_npz, steps=4))
    train(config, tmp_path / "run", progress=False)
    with pytest.raises(GanreconError, match="--resume"):
        train(config, tmp_path / "run", progress=False)


def test_non_finite_loss_stops_with_a_clear_message(tmp_path, tiny_npz):
    config = load_config(overrides=tiny_overrides(tiny_npz, lr=1e30, steps=30))
    with pytest.raises(TrainingDiverged, match="diverged at step"):
        train(config, tmp_path / "run", progress=False)


def test_config_overrides_are_checked():
    with pytest.raises(GanreconError, match="Unknown config key"):
        load_config(overrides=["stepz=3"])
    with pytest.raises(GanreconError, match="must be a number"):
        load_config(overrides=["steps=many"])
    assert load_config(overrides=["generator_options.width=16"]).generator_options["width"] == 16


def test_two_process_ddp_ends_with_identical_weights(tmp_path, tiny_npz):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(Path(__file__).with_name("ddp_worker.py")), tiny_npz, str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240,
                          cwd=Path(__file__).parent)
    assert proc.returncode == 0, proc.stderr[:3000]  # a worker's own error comes before the launcher's
    r0, r1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_leaving_the_process_group_destroys_it_after_its_last_collective(tmp_path):
    import torch.distributed as dist

    from ganrecon.training.distributed import is_distributed, leave_process_group

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    value = torch.ones(3)
    dist.all_reduce(value)
    leave_process_group(all_finished=True)
    assert not is_distributed() and value.tolist() == [1.0, 1.0, 1.0]


def test_tensorboard_option_writes_events_or_says_what_is_missing(tmp_path, tiny_npz):
    import importlib.util

    config = load_config(overrides=tiny_overrides(tiny_npz, steps=2, eval_every=2, tensorboard=True))
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(GanreconError, match="pip install"):
            train(config, tmp_path / "run", progress=False)
    else:
        train(config, tmp_path / "run", progress=False)
        assert any((tmp_path / "run" / "tensorboard").iterdir())


def test_init_starts_from_trained_weights_and_refuses_another_architecture(tmp_path, tiny_npz):
    train(load_config(overrides=tiny_overrides(tiny_npz, steps=4)), tmp_path / "first", progress=False)
    # lr 0: the fine-tuned run cannot move its parameters (BatchNorm statistics still follow the batches)
    config = load_config(overrides=tiny_overrides(tiny_npz, steps=2, lr=0.0, init=str(tmp_path / "first")))
    train(config, tmp_path / "tuned", progress=False)
    a, b = _weights(tmp_path / "first"), _weights(tmp_path / "tuned")
    learned = [k for k in a if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert a.keys() == b.keys() and len(learned) > 4
    assert all(torch.equal(a[k], b[k]) for k in learned)
    first, tuned = (json.loads((tmp_path / r / "model.json").read_text()) for r in ("first", "tuned"))
    assert tuned["steps"] == 2 and tuned["total_steps"] == first["total_steps"] + 2 == 6  # training accumulates
    assert tuned["total_train_seconds"] >= first["train_seconds"]
    wider = load_config(overrides={**tiny_overrides(tiny_npz, steps=2, init=str(tmp_path / "first")),
                                   "generator_options": {"width": 16}})
    with pytest.raises(GanreconError, match="init: the weights in .* do not fit"):
        train(wider, tmp_path / "wider", progress=False)
    widen = {**tiny_overrides(tiny_npz, steps=2, init=str(tmp_path / "first")), "init_widen": True}
    train(apply_overrides(load_config(overrides=widen), ["generator_options.width=16"]), tmp_path / "widened",
          progress=False)  # the same U-Net, grown wider (models.widen)
    widened = json.loads((tmp_path / "widened" / "model.json").read_text())
    assert widened["generator_options"]["width"] == 16 and widened["total_steps"] == 6


def test_a_list_of_data_specs_trains_on_their_union_and_refuses_mixed_sizes(tmp_path):
    from ganrecon.training import load_training_data

    specs = ["seismic:n=12,size=32x16", "seismic:preset=field,n=20,size=32x16"]
    config = load_config(overrides={"task": "traces", "data": specs, "batch_size": 4, "val_images": 4})
    train_set, val_set = load_training_data(config)
    assert len(train_set) == 12 + 20 and len(val_set) == 4  # n gathers per split; validation shared out 2 + 2
    assert train_set.scale is not None and len(train_set.scale) == len(train_set)
    clean = load_config(overrides={"task": "traces", "data": specs[0], "batch_size": 4, "val_images": 4})
    assert torch.equal(train_set.images[:12], load_training_data(clean)[0].images)
    mixed = load_config(overrides={"task": "traces", "data": [specs[0], "seismic:n=12,size=32x32"]})
    with pytest.raises(GanreconError, match="one size and value range"):
        load_training_data(mixed)


@pytest.mark.parametrize("data", ["tiny", "seismic:n=24,size=32x16"])
def test_validation_scores_exactly_what_load_model_ships(tmp_path, tiny_npz, data):
    """model-best is chosen on the function load_model returns: amplitude normalisation, data consistency and
    (signed data) the polarity average included. Same batch, same numbers."""
    from ganrecon.inference import load_model
    from ganrecon.metrics import image_metrics, summarise
    from ganrecon.training import ConditionalGAN

    config = load_config(overrides=tiny_overrides(tiny_npz if data == "tiny" else data, steps=6, eval_every=6,
                                                  checkpoint_every=6, val_images=6))
    result = train(config, tmp_path / "run", progress=False)
    model = load_model(tmp_path / "run")
    batch = ConditionalGAN(config, torch.device("cpu"))  # the same fixed validation batch the run scored
    (val_obs, val_clean, val_mask), = batch.val_parts.values()
    shipped = summarise(image_metrics(model(val_obs, val_mask), val_clean, val_mask, model.value_range))
    assert shipped == result.last_validation["model"]
    best = load_model(tmp_path / "run" / "model-best.safetensors")
    assert best.meta["selected"] == f"best validation PSNR {shipped['psnr']:.2f} dB"  # one validation: step 6


def test_time_budget_finishes_the_run_as_if_planned(tmp_path, tiny_npz):
    config = load_config(overrides=tiny_overrides(tiny_npz, steps=10_000, max_seconds=1.0, eval_every=10_000))
    result = train(config, tmp_path / "run", progress=False)
    assert 0 < result.step < 10_000
    for name in ("model.safetensors", "summary.json", "losses.png"):
        assert (tmp_path / "run" / name).is_file(), name
    rows = (tmp_path / "run" / "validation.csv").read_text().splitlines()
    assert rows[-1].startswith(f"{result.step},")  # scored at the step the budget ended
    assert json.loads((latest_checkpoint(tmp_path / "run") / "state.json").read_text())["step"] == result.step


def test_validation_over_several_degradations_chooses_by_their_mean(tmp_path, tiny_npz):
    specs = ["columns:random:0.5", "columns:regular:2"]
    config = load_config(overrides=tiny_overrides(tiny_npz, steps=6, eval_every=6, val_degrade=specs))
    result = train(config, tmp_path / "run", progress=False)
    scores = result.last_validation
    for spec in specs:
        assert {f"model@{spec}", f"linear@{spec}", f"zero-fill@{spec}"} <= set(scores)
    assert scores["model"]["psnr"] == pytest.approx(sum(scores[f"model@{s}"]["psnr"] for s in specs) / 2)
    best = [max(v["psnr"] for k, v in scores.items() if k.endswith(f"@{s}") and not k.startswith("model"))
            for s in specs]
    assert scores["best-classical"]["psnr"] == pytest.approx(sum(best) / 2)
    with open(tmp_path / "run" / "validation.csv", newline="") as fh:
        assert {"model", "best-classical", f"model@{specs[1]}"} <= {r["method"] for r in csv.DictReader(fh)}
    single = train(load_config(overrides=tiny_overrides(tiny_npz, steps=6, eval_every=6, val_degrade=specs[1])),
                   tmp_path / "single", progress=False)  # the first spec of a list is validated as if alone
    first = train(load_config(overrides=tiny_overrides(tiny_npz, steps=6, eval_every=6, val_degrade=specs[::-1])),
                  tmp_path / "first", progress=False)
    assert first.last_validation[f"linear@{specs[1]}"] == single.last_validation["linear"]
