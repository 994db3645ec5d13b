"""The offline HTML report: one self-contained page, from `eval --report` and from `ganrecon report RUN_DIR`."""

import base64
import re

import pytest
from conftest import tiny_overrides

from ganrecon.cli import main
from ganrecon.config import load_config
from ganrecon.training import train

GATHERS = "seismic:n=8,size=32x16"


def assert_self_contained(html: str) -> None:
    """No CDN, font or script from elsewhere: every src/href is inline data or an anchor, every image a PNG."""
    outside = re.findall(r"""(?:src|href)\s*=\s*["'](?!data:|#)([^"']*)""", html)
    assert outside == []
    assert "@import" not in html and "url(http" not in html
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', html)
    assert images and len(images) == html.count("<img ")
    for payload in images:
        assert base64.b64decode(payload).startswith(b"\x89PNG")


def test_eval_report_is_one_offline_page_with_everything(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["eval", "--model", "traces-seismic-unet", "--data", GATHERS, "--degrade", "columns:random:0.5",
                 "--limit", "2", "--report", str(out)]) == 0
    assert f"wrote {out / 'index.html'}" in capsys.readouterr().out
    assert [p.name for p in out.iterdir()] == ["index.html"]
    html = (out / "index.html").read_text()
    assert_self_contained(html)
    assert '<table class="metrics">' in html and 'class="best"' in html
    for method in ("zero-fill", "linear", "fk", "traces-seismic-unet"):
        assert f'data-value="{method}"' in html
    assert html.count('class="example-row"') == 2                 # a few examples
    assert 'class="view view-error"' in html                      # error maps
    assert 'class="wipe-range"' in html                            # before/after slider
    assert "view-grey" in html and "view-rwb" in html             # gathers: grey and red-white-blue
    assert "columns:random:0.5" in html and "torch" in html and "device" in html   # config and environment


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_npz):
    run = tmp_path_factory.mktemp("runs") / "run"
    train(load_config(overrides=tiny_overrides(tiny_npz, steps=6, eval_every=3)), run, progress=False)
    return run


def test_run_report_has_scores_curves_examples_and_config(run):
    assert main(["report", str(run), "--limit", "3"]) == 0
    html = (run / "report" / "index.html").read_text()
    assert_self_contained(html)
    assert "training losses per logged step" in html and "validation scores during training" in html
    assert html.count('<table class="metrics">') == 2              # final validation + the examples' evaluation
    assert 'data-value="run"' in html and "Examples on validation images" in html
    assert "generator_options" in html and "# model.json" in html


def test_run_report_without_data_still_writes_the_page(tmp_path, run):
    assert main(["report", str(run), "-o", str(tmp_path / "r"), "--data", "npz:/no/such.npz"]) == 0
    assert "Examples skipped" in (tmp_path / "r" / "index.html").read_text()


@pytest.mark.parametrize("make", [lambda p: p, lambda p: p / "missing"])
def test_report_of_a_folder_that_is_not_a_run_is_one_sentence(tmp_path, capsys, make):
    assert main(["report", str(make(tmp_path))]) == 2
    assert "not a training run" in capsys.readouterr().err
