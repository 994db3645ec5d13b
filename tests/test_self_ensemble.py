"""Self-ensemble: orientations and their inverses, the averaged reconstruction, the bundle's default and the
benchmark's choice (benchmarks/self_ensemble.py)."""

import json

import pytest
import torch
from conftest import load_benchmark
from torch import nn

from ganrecon.errors import GanreconError
from ganrecon.orientations import GROUPS, orient, unorient
from ganrecon.reconstruction import set_ensemble
from ganrecon.reconstructor import ReconstructionModel

bench = load_benchmark("self_ensemble")


class AddRamp(nn.Module):
    """Adds a left-to-right ramp: not mirror-symmetric, so its ensemble differs from it in a known way."""

    scale, fixed_size = 1, False

    def __init__(self):
        super().__init__()
        self.zero = nn.Parameter(torch.zeros(()))   # a reconstructor finds its device from a parameter

    def forward(self, obs, mask):
        return obs + torch.linspace(0.0, 1.0, obs.shape[-1]) + self.zero


def _model(meta_extra=None, size=(8, 8)):
    meta = {"channels": 1, "image_size": list(size), "value_range": [0.0, 1.0], **(meta_extra or {})}
    return ReconstructionModel(AddRamp().eval(), meta, "ramp")


def test_every_orientation_is_undone_and_the_eight_are_distinct():
    x = torch.rand(2, 1, 5, 5)
    turned = [orient(x, code) for code in range(GROUPS["dihedral"])]
    assert all(torch.equal(unorient(t, code), x) for code, t in enumerate(turned))
    assert len({t.numpy().tobytes() for t in turned}) == 8


def test_the_ensemble_averages_the_network_over_orientations():
    x = torch.rand(1, 1, 8, 8)
    ramp = torch.linspace(0.0, 1.0, 8)
    assert torch.allclose(_model()(x), x + ramp)
    assert torch.allclose(_model()(x, ensemble="mirror"), x + 0.5, atol=1e-6)     # ramp and its mirror
    assert torch.allclose(_model()(x, ensemble="dihedral"), x + 0.5, atol=1e-6)   # rows and columns average out


def test_the_bundle_names_the_default_and_set_ensemble_overrides_it():
    x = torch.rand(1, 1, 8, 8)
    model = _model({"self_ensemble": "mirror"})
    assert torch.allclose(model(x), x + 0.5, atol=1e-6)
    set_ensemble(model, "none")
    assert torch.allclose(model(x), x + torch.linspace(0.0, 1.0, 8))
    set_ensemble(model, "auto")
    assert model.ensemble is None and torch.allclose(model(x), x + 0.5, atol=1e-6)
    with pytest.raises(GanreconError, match="Unknown ensemble"):
        set_ensemble(model, "sideways")


def test_a_quarter_turn_is_refused_for_a_fixed_size_non_square_network():
    model = _model(size=(8, 4))
    model.generator.fixed_size = True
    with pytest.raises(GanreconError, match="mirror or none"):
        set_ensemble(model, "dihedral")
    set_ensemble(model, "mirror")


def test_the_choice_wants_a_clear_mean_gain_no_loss_and_the_smallest_group_close_to_the_best():
    def row(model, mirror, dihedral):
        return {"model": model, "groups": ("mirror", "dihedral"),
                "val": {"psnr": {"none": 30.0, "mirror": 30.0 + mirror, "dihedral": 30.0 + dihedral}}}

    rows = [row("a", 0.30, 0.50), row("a", 0.20, 0.40),      # dihedral clearly best
            row("b", 0.30, 0.32),                             # mirror within the slack of dihedral
            row("c", 0.04, 0.06),                             # too small to pay
            row("d", 0.50, 0.60), row("d", -0.10, 0.10)]      # mirror loses on one set
    assert bench.choose(rows) == {"a": "dihedral", "b": "mirror", "c": "none", "d": "dihedral"}


def test_a_texture_model_keeps_no_ensemble_that_blurs_what_it_invents():
    texture = bench.TEXTURE[0]

    def row(model, hf):
        return {"model": model, "groups": ("mirror", "dihedral"),
                "val": {"psnr": {"none": 30.0, "mirror": 30.2, "dihedral": 30.4},
                        "hf_ratio": {"none": 0.80, "mirror": hf[0], "dihedral": hf[1]}}}

    assert bench.choose([row(texture, (0.78, 0.60))]) == {texture: "mirror"}   # dihedral loses a quarter of the power
    assert bench.choose([row(texture, (0.70, 0.60))]) == {texture: "none"}
    assert bench.choose([row(texture, (0.82, 0.85))]) == {texture: "dihedral"}  # closer to 1 is no veto
    assert bench.choose([row("plain", (0.70, 0.60))]) == {"plain": "dihedral"}  # PSNR models are not asked


def test_recording_writes_and_clears_the_default(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"task": "denoise", "self_ensemble": "mirror"}))
    bench.record_choices({"a": "dihedral", "b": "none"}, tmp_path)
    assert json.loads((tmp_path / "a.json").read_text()) == {"task": "denoise", "self_ensemble": "dihedral"}
    assert json.loads((tmp_path / "b.json").read_text()) == {"task": "denoise"}


def test_a_run_of_some_models_keeps_the_other_models_rows_and_recorded_choices(tmp_path):
    """`--only` remeasures one model without losing the table's other rows or what earlier runs recorded."""
    first, last = bench.SETS[0][0], bench.SETS[-1][0]
    earlier = {"rows": [{"model": first, "n": 1}, {"model": last, "n": 1}], "recorded": [first, last]}
    path = tmp_path / "self_ensemble.json"
    path.write_text(json.dumps(earlier))
    rows, kept, recorded = bench.with_earlier_rows([{"model": last, "n": 2}], path)
    assert rows == [{"model": first, "n": 1}, {"model": last, "n": 2}]
    assert kept == [first] and recorded == [first, last]
    assert bench.with_earlier_rows([{"model": last}], tmp_path / "absent.json") == ([{"model": last}], [], [])


def test_an_earlier_row_of_a_model_the_sets_no_longer_list_is_dropped(tmp_path):
    """The seismic model left SETS for benchmarks/gather_inference.py: its old rows must not vote on its default."""
    first = bench.SETS[0][0]
    assert "traces-seismic-unet" not in {name for name, *_ in bench.SETS}
    path = tmp_path / "self_ensemble.json"
    path.write_text(json.dumps({"rows": [{"model": "traces-seismic-unet", "n": 1}], "recorded": []}))
    rows, kept, _ = bench.with_earlier_rows([{"model": first, "n": 2}], path)
    assert rows == [{"model": first, "n": 2}] and kept == []
