"""Bursts of turbulent frames (`turbulence:S:frames=N`, `phase-screen:D:frames=N`) and their classical baselines."""

import pytest
import torch

from ganrecon.baselines import run_baseline
from ganrecon.burst_registration import register_burst
from ganrecon.data.natural import photo
from ganrecon.degrade import Burst, parse_degradation, warp_by
from ganrecon.errors import GanreconError
from ganrecon.metrics import image_metrics, summarise
from ganrecon.scoring import baseline_methods, score_methods

BURST_BASELINES = ["burst-mean", "burst-median", "burst-mean-wiener", "burst-mean-rl", "burst-median-wiener",
                   "burst-median-rl", "burst-register", "burst-register-wiener", "burst-register-rl"]


def _crops(n: int = 2, side: int = 64) -> torch.Tensor:
    image = torch.from_numpy(photo("camera").copy())
    return torch.stack([image[100 + 40 * i:100 + 40 * i + side, 200:200 + side] for i in range(n)])[:, None]


def test_a_burst_stacks_independent_frames_along_the_channels():
    clean = _crops().expand(2, 3, 64, 64).contiguous()  # colour: frame-major, 3 channels per frame
    op = parse_degradation("turbulence:1.0:frames=4")
    assert isinstance(op, Burst) and op.families == {"burst"} and op.parameters.frames == 4
    observed, mask = op(clean, generator=0)
    again, _ = op(clean, generator=0)
    assert observed.shape == (2, 12, 64, 64) and mask.shape == observed.shape and torch.equal(observed, again)
    frames = observed.view(2, 4, 3, 64, 64)
    assert not torch.allclose(frames[:, 0], frames[:, 1])              # each frame its own turbulence
    torch.testing.assert_close(frames[:, :, 0], frames[:, :, 2])      # channels of a frame share it
    assert op.psf.ndim == 2 and op.psf.sum() == pytest.approx(1.0)    # long-exposure: wider than one frame's blur
    assert op.psf.shape[0] > parse_degradation("turbulence:1.0").psf.shape[0]


def test_burst_baselines_fuse_the_frames_and_beat_one_frame():
    clean = _crops()
    op = parse_degradation("turbulence:1.0:frames=8")
    observed, mask = op(clean, generator=1)
    methods = baseline_methods(op, (0.0, 1.0), task="translate")
    assert list(methods) == BURST_BASELINES                            # single-frame methods do not apply
    torch.testing.assert_close(methods["burst-mean"](observed, mask), observed.mean(1, keepdim=True).clamp(0, 1))
    scores = score_methods(methods, clean, observed, mask, (0.0, 1.0))
    single, _ = parse_degradation("turbulence:1.0")(clean, generator=1)
    one_frame = summarise(image_metrics(single, clean, None, (0.0, 1.0)))["psnr"]
    assert scores["burst-mean-wiener"]["psnr"] > one_frame + 1.5        # the tilts average out over 8 frames
    assert scores["burst-mean-wiener"]["psnr"] > scores["burst-mean"]["psnr"]  # and the mean's blur deconvolves
    assert scores["burst-register"]["psnr"] > scores["burst-mean"]["psnr"] + 0.5  # registration undoes the tilts
    assert scores["burst-register-wiener"]["psnr"] > scores["burst-mean-wiener"]["psnr"] + 0.5


def test_registration_undoes_known_shifts_and_keeps_the_mean_geometry():
    clean = _crops(1, 48).expand(1, 3, 48, 48)                        # colour: one field warps every channel
    shifts = torch.tensor([[0.8, -0.5], [-0.8, 0.5], [0.4, 0.6], [-0.4, -0.6]])  # px (dx, dy), mean zero
    frames = torch.stack([warp_by(clean, s.view(1, 2, 1, 1).expand(1, 2, 48, 48)) for s in shifts], 1)
    registered, disp = register_burst(frames)
    assert registered.shape == frames.shape and disp.shape == (1, 4, 2, 48, 48)
    torch.testing.assert_close(disp.mean(1), torch.zeros(1, 2, 48, 48), atol=1e-5, rtol=0)  # the mean's geometry
    inner = slice(8, 40)                                                # away from the reflected borders
    torch.testing.assert_close(-disp[0, :, :, inner, inner].mean((-2, -1)), shifts, atol=0.15, rtol=0)
    spread = {name: stack.std(1)[..., inner, inner].mean() for name, stack in (("frames", frames),
                                                                               ("registered", registered))}
    assert spread["registered"] < 0.1 * spread["frames"]               # the frames now agree (bilinear resampling
    assert (registered.mean(1) - clean)[..., inner, inner].abs().mean() < \
        (frames.mean(1) - clean)[..., inner, inner].abs().mean()       # smooths each a little, so not 0)
    torch.testing.assert_close(registered[:, :, 0], registered[:, :, 2])


def test_bad_bursts_say_what_is_wrong():
    for spec, message in [("turbulence:1:frames=0", "frames"), ("phase-screen:2:frames=65", "frames"),
                          ("turbulence:1:frames=4+columns:random:0.5", "burst"),
                          ("turbulence:1:frames=2+turbulence:1", "burst")]:
        with pytest.raises(GanreconError, match=message):
            parse_degradation(spec)
    with pytest.raises(GanreconError, match="multiple of 3"):
        run_baseline("burst-mean", torch.rand(1, 4, 8, 8), None, frames=3)


def test_phase_screen_bursts_and_noise():
    op = parse_degradation("phase-screen:2:frames=3+gauss:0.01")
    observed, mask = op(_crops(1, 48), generator=2)
    assert observed.shape == (1, 3, 48, 48) and op.parameters.frames == 3
    assert run_baseline("burst-median", observed, mask, frames=3).shape == (1, 1, 48, 48)


def test_a_burst_restorer_trains_ships_and_reconstructs(tmp_path):
    from ganrecon.config import load_config
    from ganrecon.inference import load_model
    from ganrecon.training import train

    config = load_config(overrides={
        "task": "translate", "data": "natural:n=48,size=16x16,images=camera+coins", "degrade": "turbulence:1.0:frames=3",
        "generator_options": {"depth": "auto", "width": 4, "prior": "burst-mean"},
        "discriminator_options": {"width": 4}, "steps": 2, "warmup_steps": 1, "batch_size": 4, "val_images": 4,
        "eval_every": 2, "checkpoint_every": 2, "log_every": 1, "threads": 1})
    result = train(config, tmp_path / "run", progress=False)
    assert set(result.last_validation) >= {"model", "burst-mean", "burst-mean-wiener"}
    model = load_model(tmp_path / "run")
    assert model.frames == 3 and model.channels == 1
    burst, _ = parse_degradation("turbulence:1.0:frames=3")(_crops(1, 40), generator=4)
    out = model(burst)                                                 # tiles of 16 x 16, three frames in each
    assert out.shape == (1, 1, 40, 40) and torch.isfinite(out).all()
    with pytest.raises(GanreconError, match="bursts of 3 frames"):
        model(burst[:, :2])
    # the command line: a multi-page 16-bit TIFF of the frames in, one 16-bit image out
    import numpy as np
    import tifffile

    from ganrecon.cli import main

    tifffile.imwrite(tmp_path / "burst.tif", (burst[0].numpy() * 65535).round().astype(np.uint16), photometric="minisblack")
    assert main(["reconstruct", str(tmp_path / "burst.tif"), "--model", str(tmp_path / "run"),
                 "-o", str(tmp_path / "out.tif")]) == 0
    restored = tifffile.imread(tmp_path / "out.tif")
    assert restored.shape == (40, 40) and restored.dtype == np.uint16
    # the web app: an NPY of the frames uploaded as it is, one image back
    import io

    import ganrecon.webapp as webapp

    app = webapp.Reconstructor()
    app._models["burst-test"] = model
    original = webapp.model_choices
    webapp.model_choices = lambda: [("translate", "burst-test")]
    try:
        buffer = io.BytesIO()
        np.save(buffer, burst[0].numpy())
        outcome, payload, name, _ = app.run(buffer.getvalue(), "frames.npy", "translate", "burst-test",
                                            webapp.FILE_MISSING, 0)
    finally:
        webapp.model_choices = original
    assert np.load(io.BytesIO(payload)).shape == (40, 40) and name.endswith(".npy")
    assert any("burst-mean" in str(panel) for row in outcome.rows for panel in row)
    tifffile.imwrite(tmp_path / "two.tif", (burst[0, :2].numpy() * 65535).astype(np.uint16))
    assert main(["reconstruct", str(tmp_path / "two.tif"), "--model", str(tmp_path / "run"),
                 "-o", str(tmp_path / "bad.tif")]) != 0 and not (tmp_path / "bad.tif").exists()
