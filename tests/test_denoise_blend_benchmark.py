"""benchmarks/denoise_blend.py's bookkeeping: PSNR and the blend table."""

import torch
from conftest import load_benchmark

bench = load_benchmark("denoise_blend")


def test_psnr_and_the_table_show_each_blend_as_a_gain_over_the_model():
    clean = torch.full((2, 1, 4, 4), 0.5)
    assert abs(bench.mean_psnr(clean + 0.1, clean) - 20.0) < 1e-4
    row = {"level": "gauss:0.1", "images": 2, "model": 30.0, "bm3d": 29.0, "error_correlation": 0.9,
           "blends": {f"{w:g}": 30.0 + (0.05 if w == 0.8 else -0.1) for w in bench.WEIGHTS}}
    text = bench.markdown({"machine": "x", "threads": 2, "seconds": 1.0, "rows": [row]})
    assert "| `gauss:0.1` | 2 | 30.00 | 29.00 | 0.900 |" in text and "+0.050" in text
    assert "Best blend: +0.050 dB over the model alone (`gauss:0.1`, w 0.8)" in text
