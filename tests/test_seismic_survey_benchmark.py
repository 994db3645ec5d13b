"""benchmarks/seismic_survey.py's smoke run: its table, learning curve and figure, and a spacing run alone keeping
the spacings run before (each full spacing is an hour of adaptation)."""

import json

import pytest
import torch
from conftest import load_benchmark

from ganrecon.reconstructor import bf16_native

bench = load_benchmark("seismic_survey")

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest


def test_a_second_spacing_keeps_the_first_and_each_has_its_curve(tmp_path):
    work = tmp_path / "work"
    assert bench.main(["--quick", "--quiet", "--work", str(work), "--spacings", "25"]) == 0
    assert bench.main(["--quick", "--quiet", "--work", str(work), "--spacings", "37.5"]) == 0
    data = json.loads((work / "seismic_survey.json").read_text())
    assert [r["dx_m"] for r in data["results"]] == [25.0, 37.5]
    for res in data["results"]:
        curve = res["survey_adaptation"]["curve"]
        assert curve[0]["step"] == 0 and curve[-1]["step"] == res["survey_adaptation"]["steps"]
        assert all(b["seconds"] >= a["seconds"] for a, b in zip(curve, curve[1:]))
        # `auto` runs bf16 only where the CPU has bf16 units, and the JSON says which ran
        assert res["settings"]["precision"] == ("bf16" if bf16_native(torch.device("cpu")) else "fp32")
        assert res["settings"]["lr_decay"] == "linear-budget"
        assert "survey-adapted-guarded" in res["methods"] and "survey-adapted:pretrained-tiles" in res["methods"]
    text = (work / "seismic_survey.md").read_text()
    assert "then linearly to zero at its end" in text and "Guarded: " in text and "| 25 m | survey-adapted |" in text and "| 37.5 m | survey-adapted |" in text
    assert (work / "seismic-survey-adaptation.png").stat().st_size > 0
    # results of another survey geometry are replaced, never mixed with
    other = dict(bench.QUICK, shots=4)
    assert bench.merged([{"dx_m": 50.0}], other, work / "seismic_survey.json") == [{"dx_m": 50.0}]
    same = bench.merged([{"dx_m": 50.0}], dict(bench.QUICK), work / "seismic_survey.json")
    assert [r["dx_m"] for r in same] == [25.0, 37.5, 50.0]


def test_a_pool_grown_on_resume_is_told_with_its_steps():
    assert bench.pool_text(0) == ""
    assert bench.pool_text(1000) == ", 1000 fixed training problems (the prior of each computed once)"
    told = bench.pool_text(3000, [[0, 1000], [5600, 3000]])
    assert told.startswith(", 1000 fixed training problems, grown to 3000 at step 5600 (the first ones kept")
    curve = [{"step": 0, "seconds": 0.0}, {"step": 400, "seconds": 600.0}, {"step": 800, "seconds": 1200.0}]
    assert bench.grown_minute(curve, 420) == 10.0  # the figure's mark: the score nearest the step it grew at
