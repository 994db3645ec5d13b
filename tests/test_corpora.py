"""The training corpora (photos, deadleaves, digits-text, porous-ct, porous-ct-heldout), the CT-like scanner and the optional
BM3D baseline. Tiny self-made data only: fake wallpapers and MNIST in tmp folders; porespy and bm3d tests skip
when those optional packages are absent."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from ganrecon.baselines import BASELINES, applicable_baselines, bm3d_denoise, bm3d_installed, run_baseline
from ganrecon.config import load_config
from ganrecon.data import DATASET_SPECS, load_dataset
from ganrecon.data.ct import Scanner, partial_volume, ring_pattern, scan
from ganrecon.data.deadleaves import radii
from ganrecon.data.photos import HELDOUT, WALLPAPER_ENV, WALLPAPER_PHOTOS
from ganrecon.errors import GanreconError

SPLITS = ("train", "val", "test")


def one_sentence(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text and text.endswith(".") and "Traceback" not in text
    return text


def check_unit(ds, shape):
    assert tuple(ds.images.shape) == shape and ds.images.dtype == torch.float32
    assert ds.value_range == (0.0, 1.0)
    assert float(ds.images.min()) >= 0.0 and float(ds.images.max()) <= 1.0


def whole_images(ds) -> set[str]:
    return set(ds.meta["files"])


# ---------------------------------------------------------------- photos

@pytest.fixture
def wallpapers(tmp_path, monkeypatch):
    """Eleven tiny fake wallpapers (two sizes each, as in the Debian package) plus a drawing that is not used."""
    rng = np.random.default_rng(0)
    for name in (*WALLPAPER_PHOTOS, "Autumn"):
        folder = tmp_path / name / "contents" / "images"
        folder.mkdir(parents=True)
        for w, h in ((40, 30), (96, 72)):
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{w}x{h}.png")
    monkeypatch.setenv(WALLPAPER_ENV, str(tmp_path))
    return tmp_path


def test_photos_split_by_whole_image_and_fixed_for_every_seed(wallpapers):
    spec = "photos:n=60,size=24x24"
    sets = {split: load_dataset(spec, split=split, seed=0) for split in SPLITS}
    for ds in sets.values():
        check_unit(ds, (60, 1, 24, 24))
    files = {split: whole_images(ds) for split, ds in sets.items()}
    assert not files["train"] & files["val"] and not files["train"] & files["test"]
    assert not files["val"] & files["test"]
    for split in ("val", "test"):
        allowed = {f"{source}/{name}" for source, held in HELDOUT.items() for name in held[split]}
        assert files[split] <= allowed
        assert whole_images(load_dataset(spec, split=split, seed=9)) <= allowed  # the seed moves crops only
    assert {f.split("/")[0] for f in files["train"]} == {"skimage", "faces", "wallpapers"}
    assert not any(f.startswith("wallpapers/Autumn") for fs in files.values() for f in fs)  # a drawing


def test_photos_deterministic_rgb_and_sources(wallpapers):
    a = load_dataset("photos:n=6,size=16x20,rgb=1,sources=wallpapers+faces", split="train", seed=3)
    check_unit(a, (6, 3, 16, 20))
    assert torch.equal(a.images, load_dataset("photos:n=6,size=16x20,rgb=1,sources=wallpapers+faces",
                                              split="train", seed=3).images)
    assert not torch.equal(a.images, load_dataset("photos:n=6,size=16x20,rgb=1,sources=wallpapers+faces",
                                                  split="train", seed=4).images)
    faces = load_dataset("photos:n=4,size=32x32,sources=faces,zoom=2-3", split="test")
    check_unit(faces, (4, 1, 32, 32))
    assert all(f.startswith("faces/") for f in faces.meta["files"])


def test_photos_dihedral_turns_and_mirrors_the_same_crops(wallpapers):
    plain = load_dataset("photos:n=16,size=24x24", split="train", seed=1).images
    turned = load_dataset("photos:n=16,size=24x24,dihedral=1", split="train", seed=1).images
    changed = 0
    for p, t in zip(plain, turned):
        variants = [torch.rot90(q, k, (1, 2)) for q in (p, p.flip(-1)) for k in range(4)]
        assert any(torch.equal(t, v) for v in variants)
        changed += not torch.equal(t, p)
    assert changed >= 8                                                 # 7 of 8 draws move the crop
    assert load_dataset("photos:n=4,size=16x24,dihedral=1", split="train").images.shape == (4, 1, 16, 24)


def test_photos_draw_gives_new_training_crops_and_keeps_held_out_ones(wallpapers):
    first = load_dataset("photos:n=8,size=16x16", split="train", seed=1).images
    assert torch.equal(load_dataset("photos:n=8,size=16x16,draw=0", split="train", seed=1).images, first)
    second = load_dataset("photos:n=8,size=16x16,draw=1", split="train", seed=1).images
    assert not any(torch.equal(a, b) for a, b in zip(first, second))
    for split in ("val", "test"):
        held = [load_dataset(f"photos:n=8,size=16x16,draw={d}", split=split, seed=1).images for d in (0, 1)]
        assert torch.equal(*held)


@pytest.mark.parametrize("spec,word", [("photos:sources=wallpapers", "corpora.sh"),
                                       ("photos:sources=paintings", "source"),
                                       ("photos:rgb=2", "rgb"),
                                       ("photos:zoom=3-1", "zoom"),
                                       ("photos:dihedral=yes please", "dihedral"),
                                       ("photos:draw=-1", "draw")])
def test_photos_errors_are_one_sentence(tmp_path, monkeypatch, spec, word):
    monkeypatch.setenv(WALLPAPER_ENV, str(tmp_path / "nothing-here"))
    with pytest.raises(GanreconError) as e:
        load_dataset(spec, split="train")
    assert word in one_sentence(e)


# ---------------------------------------------------------------- deadleaves

def test_deadleaves_items_are_fixed_per_split_and_draw():
    train = load_dataset("deadleaves:n=6,size=16x16", split="train")
    check_unit(train, (6, 1, 16, 16))
    assert torch.equal(load_dataset("deadleaves:n=3,size=16x16", split="train").images, train.images[:3])
    assert not torch.equal(load_dataset("deadleaves:n=6,size=16x16", split="val").images, train.images)
    later = load_dataset("deadleaves:n=6,size=16x16,draw=1", split="train").images
    assert not any(torch.equal(a, b) for a, b in zip(train.images, later))
    held = [load_dataset(f"deadleaves:n=4,size=16x16,draw={d}", split="val").images for d in (0, 2)]
    assert torch.equal(*held)
    assert float(train.images.std(dim=(1, 2, 3)).min()) >= 0.02  # nearly flat items are redrawn


def test_deadleaves_radii_follow_the_power_law():
    r = radii(np.random.default_rng(0), 200_000, alpha=3.0, rmin=1.0, rmax=100.0)
    assert r.min() >= 1.0 and r.max() <= 100.0
    # CDF (1 - r^-2) / (1 - 100^-2): median sqrt(2 / (1 + 1e-4)), 90th percentile sqrt(10 / (1 + 9e-4))
    assert abs(np.median(r) - np.sqrt(2 / 1.0001)) < 0.01
    assert abs(np.quantile(r, 0.9) - np.sqrt(10 / 1.0009)) < 0.05


def test_deadleaves_are_flat_discs_with_sharp_edges_unless_blurred():
    sharp = load_dataset("deadleaves:n=4,size=32x32,blur=0", split="train").images
    soft = load_dataset("deadleaves:n=4,size=32x32,blur=2", split="train").images
    flat = [float((x[..., 1:] == x[..., :-1]).float().mean()) for x in (sharp, soft)]
    assert flat[0] > 0.5 > flat[1]  # inside a disc neighbours are equal; edges are antialiased, not blurred
    grey_levels = [len(torch.unique(x)) for x in sharp]
    assert all(n < 0.8 * 32 * 32 for n in grey_levels)  # a few flat discs, not noise
    colour = load_dataset("deadleaves:n=2,size=16x16,rgb=1,blur=0", split="train")
    check_unit(colour, (2, 3, 16, 16))
    assert not torch.equal(colour.images[:, 0], colour.images[:, 1])


@pytest.mark.parametrize("spec,word", [("deadleaves:rmin=8,rmax=2", "rmax"),
                                       ("deadleaves:alpha=1", "alpha"),
                                       ("deadleaves:blur=2-1", "blur"),
                                       ("deadleaves:rgb=2", "rgb"),
                                       ("deadleaves:leaves=3", "leaves")])
def test_deadleaves_errors_are_one_sentence(spec, word):
    with pytest.raises(GanreconError) as e:
        load_dataset(spec, split="train")
    assert word in one_sentence(e)


# ---------------------------------------------------------------- digits-text

@pytest.fixture
def mnist_npz(tmp_path):
    rng = np.random.default_rng(1)
    images = np.zeros((50, 28, 28), dtype=np.uint8)
    images[:, 8:20, 10:18] = rng.integers(100, 256, (50, 12, 8), dtype=np.uint8)
    path = tmp_path / "train.npz"
    np.savez(path, images=images)
    return path


def test_digits_text_splits_mix_and_determinism(mnist_npz):
    spec = f"digits-text:n=12,text=0.5,mnist={mnist_npz}"
    sets = {split: load_dataset(spec, split=split, seed=0) for split in SPLITS}
    digits = {}
    for split, ds in sets.items():
        check_unit(ds, (12, 1, 28, 28))
        sources = ds.meta["source"]
        assert sources.count("mnist") == 5 if split != "train" else sources.count("mnist") == 6
        digits[split] = {int(i) for i in ds.meta["mnist_index"] if i >= 0}
    # 50 digits: 40/5/5 -> val and test hold all 5 of theirs, text makes up the rest
    assert not digits["train"] & digits["val"] and not digits["train"] & digits["test"]
    assert not digits["val"] & digits["test"]
    assert "text" not in sets["train"].meta["source"] and "page" not in sets["test"].meta["source"]
    assert set(sets["val"].meta["source"]) <= {"mnist", "rendered"}
    assert torch.equal(sets["train"].images, load_dataset(spec, split="train", seed=0).images)


def test_digits_text_canvas_and_inversion(mnist_npz):
    ds = load_dataset(f"digits-text:n=8,size=40x36,text=0.5,invert=1,mnist={mnist_npz.parent}", split="train")
    check_unit(ds, (8, 1, 40, 36))
    is_digit = np.array(ds.meta["source"]) == "mnist"
    digits = ds.images[torch.from_numpy(is_digit)]
    assert float(digits[..., :6, :].abs().max()) == 0.0  # black padding around the 28x28 digit
    text = ds.images[torch.from_numpy(~is_digit)]
    assert float(text.median()) < 0.5  # inverted: light text on a dark ground


def test_digits_text_bad_mnist_path(tmp_path):
    other = tmp_path / "digits.npz"
    np.savez(other, images=np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(GanreconError) as e:
        load_dataset(f"digits-text:mnist={other}", split="train")
    assert "train.npz" in one_sentence(e)


# ---------------------------------------------------------------- CT-like scanner

def test_scanner_blur_is_the_stated_gaussian():
    impulse = np.zeros((41, 41))
    impulse[20, 20] = 1.0
    out = scan(impulse, np.random.default_rng(0), Scanner(blur=2.0, noise=0.0))
    assert np.allclose(out, ndimage.gaussian_filter(impulse, 2.0, mode="reflect"), atol=1e-6)
    yy, xx = np.mgrid[0:41, 0:41]
    variance = float((out * (yy - 20.0) ** 2).sum() / out.sum())
    assert variance == pytest.approx(4.0, rel=0.02)


def test_scanner_noise_partial_volume_and_rings():
    flat = np.full((128, 128), 0.5)
    noisy = scan(flat, np.random.default_rng(1), Scanner(blur=0.0, noise=0.05))
    assert float(noisy.std()) == pytest.approx(0.05, rel=0.05) and float(noisy.mean()) == pytest.approx(0.5, abs=0.01)
    assert np.array_equal(scan(flat, np.random.default_rng(1), Scanner(blur=0.0, noise=0.0)), flat.astype(np.float32))
    checker = (np.indices((64, 64)).sum(axis=0) % 2).astype(float)  # fine 0/1 checkerboard
    assert np.allclose(partial_volume(checker, 2), 0.5)
    half = scan(checker, np.random.default_rng(0), Scanner(blur=0.0, noise=0.0, supersample=2))
    assert half.shape == (32, 32) and np.allclose(half, 0.5)
    rings = ring_pattern((40, 40), 0.1, np.random.default_rng(2), centre=(10.0, 15.0))
    radius = np.rint(np.hypot(*(np.indices((40, 40)) - np.array([10.0, 15.0])[:, None, None]))).astype(int)
    for r in np.unique(radius):
        assert np.ptp(rings[radius == r]) == 0.0  # constant on each ring
    assert 0 < np.count_nonzero(np.unique(rings)) and float(np.abs(rings).max()) > 0


# ---------------------------------------------------------------- porous-ct

def test_porous_ct_grains_family_needs_no_porespy(tmp_path, monkeypatch):
    monkeypatch.setenv("GANRECON_CACHE", str(tmp_path / "cache"))
    spec = "porous-ct:n=4,size=32x32,kinds=grains,rings=0.02"
    train = load_dataset(spec, split="train", seed=2)
    check_unit(train, (4, 1, 32, 32))
    assert train.meta["family"] == ["grains"] * 4
    assert torch.equal(train.images, load_dataset(spec, split="train", seed=2).images)
    val = load_dataset(spec, split="val", seed=2)
    assert not any(torch.equal(a, b) for a in train.images for b in val.images)
    porosity = train.meta["porosity"]
    assert bool(((porosity > 0.1) & (porosity < 0.4)).all())


@pytest.mark.parametrize("spec,word", [("porous-ct:kinds=gravity", "gravity"),
                                       ("porous-ct-heldout:porosity=0.2", "porosity"),
                                       ("porous-ct:grain=9-3", "grain"),
                                       ("porous-ct:supersample=0", "supersample")])
def test_porous_ct_options_keep_the_heldout_family_out(spec, word):
    with pytest.raises(GanreconError) as e:
        load_dataset(spec, split="train")
    assert word in one_sentence(e)


def test_porous_ct_without_porespy_is_one_sentence(monkeypatch):
    monkeypatch.setitem(sys.modules, "porespy", None)
    monkeypatch.setenv("GANRECON_CACHE", "off")
    with pytest.raises(GanreconError) as e:
        load_dataset("porous-ct-heldout:n=1,size=16x16", split="test")
    assert "corpora.sh" in one_sentence(e)


def test_porespy_families_and_heldout_are_cached_and_deterministic(tmp_path, monkeypatch):
    pytest.importorskip("porespy")
    monkeypatch.setenv("GANRECON_CACHE", str(tmp_path / "cache"))
    spec = "porous-ct:n=3,size=24x24,kinds=blobs+polydisperse+overlapping,grain=3-4"
    train = load_dataset(spec, split="train", seed=1)
    check_unit(train, (3, 1, 24, 24))
    assert train.meta["family"] == ["blobs", "polydisperse", "overlapping"]
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 1
    monkeypatch.setenv("GANRECON_CACHE", "off")
    assert torch.equal(train.images, load_dataset(spec, split="train", seed=1).images)  # made again, the same
    held = load_dataset("porous-ct-heldout:n=2,size=24x24,grain=3-4", split="test", seed=1)
    check_unit(held, (2, 1, 24, 24))
    assert held.meta["family"] == ["gravity", "gravity"]


# ---------------------------------------------------------------- bm3d

def test_bm3d_applies_exactly_when_installed_and_names_the_extra_when_missing(monkeypatch):
    noise = {b.name for b in applicable_baselines({"noise"}, (0.0, 1.0))}
    assert ("bm3d" in noise) == bm3d_installed() and "bm3d" in BASELINES
    monkeypatch.setitem(sys.modules, "bm3d", None)
    assert not bm3d_installed()
    with pytest.raises(GanreconError) as e:
        bm3d_denoise(torch.zeros(1, 1, 8, 8), None)
    assert "ganrecon[bench]" in one_sentence(e)


def test_bm3d_removes_gaussian_noise():
    pytest.importorskip("bm3d")
    yy, xx = np.mgrid[0:32, 0:32]
    clean = torch.from_numpy((0.5 + 0.3 * np.sin(xx / 5.0) * np.cos(yy / 7.0)).astype(np.float32))[None, None]
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    before = float(((noisy - clean) ** 2).mean())
    for options in ({}, {"sigma": 0.1}):
        est = run_baseline("bm3d", noisy, None, value_range=(0.0, 1.0), **options)
        assert est.shape == clean.shape and float(est.min()) >= 0.0
        assert float(((est - clean) ** 2).mean()) < before / 4  # > 6 dB better than the noisy input


# ---------------------------------------------------------------- configs on the new corpora

@pytest.mark.parametrize("name,kinds,init", [
    ("denoise-blind-w48-fresh3", {"photos", "digits-text"}, "denoise-blind"),
    ("denoise-blind-w48-leaves", {"photos", "deadleaves", "digits-text"}, "denoise-blind"),
    ("denoise-blind-w48-gauss", {"photos", "digits-text"}, "denoise-blind"),
    ("superres-porous-ct-x4-prior", {"porous-ct"}, "superres-porous-x4")])
def test_new_corpora_configs_load_and_continue_from_the_shipped_generator(name, kinds, init):
    root = Path(__file__).resolve().parent.parent
    config = load_config(str(root / "configs" / f"{name}.yaml"))
    specs = [config.data] if isinstance(config.data, str) else list(config.data)
    assert {spec.partition(":")[0] for spec in specs} == kinds and kinds <= set(DATASET_SPECS)
    assert config.init == init
    shipped = json.loads((root / "src" / "ganrecon" / "pretrained" / f"{init}.json").read_text())
    assert (config.generator, config.generator_options) == (shipped["generator"], {
        k: v for k, v in shipped["generator_options"].items() if k != "scale"})

