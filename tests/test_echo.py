import json

import pytest
import torch
from conftest import tiny_overrides
from safetensors.torch import load_file

import ganrecon.models.refine as refine
from ganrecon.config import load_config
from ganrecon.errors import GanreconError
from ganrecon.training import train
from ganrecon.training.echo import EchoPool, check_echo


def test_the_pool_keeps_the_last_echo_batches_and_draws_distinct_examples_row_by_row():
    pool = EchoPool(2)
    for k in range(3):
        ids = torch.arange(4 * k, 4 * k + 4)
        pool.add(ids, ids * 10)
    assert len(pool) == 8
    ids, tens = pool.draw(6, torch.Generator().manual_seed(0))
    assert len(set(ids.tolist())) == 6 and set(ids.tolist()) <= set(range(4, 12))  # batch 0 left the pool
    assert torch.equal(tens, ids * 10)
    assert len(pool.draw(20, torch.Generator())[0]) == 8


@pytest.mark.parametrize("echo, diversity, match", [(0, False, "at least 1"), (1.5, False, "whole number"),
                                                    (True, False, "whole number"), (2, True, "diversity_weight")])
def test_an_echo_the_run_cannot_use_is_refused(echo, diversity, match):
    with pytest.raises(GanreconError, match=match):
        check_echo(echo, diversity)
    assert check_echo(1, True) == 1


def _counting_prior(monkeypatch) -> list[int]:
    """Patch the refiner's costly prior to count the images it is computed for."""
    counted, original = [], refine.run_baseline

    def counting(name, observed, mask, **kw):
        counted.append(len(observed))
        return original(name, observed, mask, **kw)
    monkeypatch.setattr(refine, "run_baseline", counting)
    return counted


def test_echo_computes_a_costly_prior_once_per_example(tmp_path, tiny_npz, monkeypatch):
    counts = {}
    for echo in (1, 4):
        counted = _counting_prior(monkeypatch)
        config = load_config(overrides=tiny_overrides(
            tiny_npz, echo=echo, generator_options={"depth": 2, "width": 8, "prior": "cubic"}))
        train(config, tmp_path / f"echo{echo}", progress=False)
        counts[echo] = sum(counted)
    # 12 steps of 8: the prior of 96 training examples without echo; with echo 4, of at most the 24 examples of
    # 3 fresh batches (each computed when first drawn); validation's are the same in both runs
    assert counts[1] - counts[4] >= 96 - 24
    assert json.loads((tmp_path / "echo4" / "model.json").read_text())["echo"] == 4


def test_an_echoed_run_resumes_exactly(tmp_path, tiny_npz):
    config = load_config(overrides=tiny_overrides(tiny_npz, echo=3))
    train(config, tmp_path / "straight", progress=False)
    train(config, tmp_path / "resumed", progress=False, stop_after=6)  # checkpoint of step 4: mid-way in a pool
    train(config, tmp_path / "resumed", resume=True, progress=False)
    a, b = (load_file(str(tmp_path / run / "model.safetensors")) for run in ("straight", "resumed"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    plain = load_file(str(train(load_config(overrides=tiny_overrides(tiny_npz)), tmp_path / "plain",
                                progress=False).run_dir / "model.safetensors"))
    assert not all(torch.equal(a[k], plain[k]) for k in a)  # the echoed run did train on other batches


def test_an_unconditional_generator_refuses_echo(tmp_path, tiny_npz):
    overrides = {"task": "latent", "data": tiny_npz, "degrade": "keep-first:100+gauss:0.05", "steps": 2,
                 "batch_size": 8, "val_images": 4, "echo": 2,
                 "generator_options": {"z_dim": 4, "hidden": 16}, "discriminator_options": {"hidden": 16}}
    with pytest.raises(GanreconError, match="echo"):
        train(load_config(overrides=overrides), tmp_path / "run", progress=False)
