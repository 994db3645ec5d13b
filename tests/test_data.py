"""Behaviour of ganrecon.data: every spec kind, splits, patching and one-sentence errors (tmp_path data only)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from ganrecon.data import DATASET_SPECS, ImageSet, load_dataset, split_indices
from ganrecon.errors import GanreconError


def one_sentence(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message.endswith(".") and len(message) < 400, message
    return message


def check_images(ds: ImageSet, shape, value_range=(0.0, 1.0)):
    assert isinstance(ds.images, torch.Tensor) and ds.images.dtype == torch.float32
    assert tuple(ds.images.shape) == tuple(shape)
    assert ds.value_range == value_range
    assert float(ds.images.min()) >= value_range[0] - 1e-6
    assert float(ds.images.max()) <= value_range[1] + 1e-6


# ---------------------------------------------------------------- splits

def test_split_indices_partition_and_reproducible():
    parts = [split_indices(50, s, seed=3) for s in ("train", "val", "test")]
    assert [len(p) for p in parts] == [40, 5, 5]
    assert sorted(np.concatenate(parts).tolist()) == list(range(50))
    assert np.array_equal(split_indices(50, "val", seed=3), parts[1])
    assert not np.array_equal(split_indices(50, "train", seed=4), parts[0])
    assert np.array_equal(split_indices(7, None), np.arange(7))
    with pytest.raises(GanreconError) as e:
        split_indices(10, "validation")
    one_sentence(e)


# ---------------------------------------------------------------- synthetic

def test_seismic_shape_range_and_normalisation():
    ds = load_dataset("seismic:n=6,size=32x16")
    check_images(ds, (6, 1, 32, 16), (-1.0, 1.0))
    assert ds.signed and ds.name == "seismic"
    assert torch.allclose(ds.images.abs().amax(dim=(1, 2, 3)), torch.ones(6))
    assert ds.scale is not None and ds.scale.shape == (6,) and bool((ds.scale > 0).all())
    assert ds.meta["dt_ms"] == pytest.approx(4.0)


def test_seismic_deterministic_and_splits_differ():
    a = load_dataset("seismic:n=4,size=32x16", seed=1, split="train")
    b = load_dataset("seismic:n=4,size=32x16", seed=1, split="train")
    c = load_dataset("seismic:n=4,size=32x16", seed=1, split="val")
    d = load_dataset("seismic:n=4,size=32x16", seed=2, split="train")
    assert torch.equal(a.images, b.images)
    assert not torch.allclose(a.images, c.images)
    assert not torch.allclose(a.images, d.images)
    # item i does not depend on n or limit
    e = load_dataset("seismic:n=10,size=32x16", seed=1, split="train", limit=4)
    assert torch.equal(a.images, e.images)


def test_seismic_options_change_the_data():
    clean = load_dataset("seismic:n=3,size=32x16,events=1,kinds=linear", seed=5)
    noisy = load_dataset("seismic:n=3,size=32x16,events=1,kinds=linear,noise=0.5", seed=5)
    assert float((noisy.images - clean.images).abs().mean()) > 0.05
    # a single linear event: the peak time moves linearly across the traces
    for gather in clean.images[:, 0]:
        peak_rows = gather.abs().argmax(dim=0).double()
        interior = peak_rows[1:-1]
        if 2 <= interior.min() and interior.max() <= 29:
            assert float((peak_rows[2:] - 2 * peak_rows[1:-1] + peak_rows[:-2]).abs().max()) <= 2


@pytest.mark.parametrize("spec", ["seismic:n=0", "seismic:size=axb", "seismic:fmax=200",
                                  "seismic:colour=red", "seismic:kinds=sinusoid", "seismic:events=5-2",
                                  "seismic:n", "porous:porosity=1.5", "natural:images=nonexistent"])
def test_bad_synthetic_options(spec):
    with pytest.raises(GanreconError) as e:
        load_dataset(spec)
    one_sentence(e)


def test_porous_range_porosity_and_determinism():
    ds = load_dataset("porous:n=3,size=48x40,porosity=0.3,grain=4,blur=0,noise=0", seed=7)
    check_images(ds, (3, 1, 48, 40))
    assert torch.allclose(ds.meta["porosity"], torch.full((3,), 0.3, dtype=torch.float64), atol=1 / (48 * 40))
    dark = (ds.images < 0.35).double().mean(dim=(1, 2, 3))
    assert torch.allclose(dark, torch.full((3,), 0.3, dtype=torch.float64), atol=0.01)
    again = load_dataset("porous:n=3,size=48x40,porosity=0.3,grain=4,blur=0,noise=0", seed=7)
    assert torch.equal(ds.images, again.images)
    other = load_dataset("porous:n=3,size=48x40,porosity=0.3,grain=4,blur=0,noise=0", seed=7, split="test")
    assert not torch.equal(ds.images, other.images)


def test_natural_crops():
    ds = load_dataset("natural:n=5,size=24x32", seed=0)
    check_images(ds, (5, 1, 24, 32))
    assert torch.equal(ds.images, load_dataset("natural:n=5,size=24x32", seed=0).images)
    assert not torch.equal(ds.images, load_dataset("natural:n=5,size=24x32", seed=0, split="val").images)
    only = load_dataset("natural:n=4,size=16x16,images=camera", split="test")
    assert set(only.meta["files"]) == {"camera"}


# ---------------------------------------------------------------- arrays

def test_npz_uint8_labels_and_split(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 6, 5), dtype=np.uint8)
    labels = np.arange(20)
    np.savez(tmp_path / "a.npz", images=images, labels=labels)
    full = load_dataset(f"npz:{tmp_path / 'a.npz'}")
    check_images(full, (20, 1, 6, 5))
    assert torch.allclose(full.images[:, 0] * 255, torch.from_numpy(images).float())
    parts = [load_dataset(f"npz:{tmp_path / 'a.npz'}", split=s, seed=2) for s in ("train", "val", "test")]
    assert [len(p) for p in parts] == [16, 2, 2]
    seen = torch.cat([p.meta["index"] for p in parts])
    assert sorted(seen.tolist()) == list(range(20))
    for part in parts:  # labels follow their images
        assert torch.equal(part.meta["labels"], part.meta["index"])
        assert torch.allclose(part.images[:, 0] * 255, torch.from_numpy(images[part.meta["index"].numpy()]).float())


def test_npz_key_and_npy_layouts(tmp_path):
    u16 = np.full((2, 3, 4, 4), 65535, dtype=np.uint16)
    np.savez(tmp_path / "b.npz", first=np.zeros((2, 4, 4), np.uint8), second=u16)
    ds = load_dataset(f"npz:{tmp_path / 'b.npz'}:second")
    check_images(ds, (2, 3, 4, 4))
    assert float(ds.images.min()) == 1.0
    with pytest.raises(GanreconError) as e:
        load_dataset(f"npz:{tmp_path / 'b.npz'}")
    assert "KEY" in one_sentence(e)
    unit = np.linspace(0, 1, 35, dtype=np.float32).reshape(5, 7)
    np.save(tmp_path / "one.npy", unit)
    ds = load_dataset(f"npy:{tmp_path / 'one.npy'}")
    check_images(ds, (1, 1, 5, 7))
    assert ds.scale is None and torch.allclose(ds.images[0, 0], torch.from_numpy(unit))


def test_npy_signed_is_normalised_per_image(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.standard_normal((4, 10, 6)).astype(np.float32) * np.array([1, 5, 0.1, 30], np.float32)[:, None, None]
    np.save(tmp_path / "g.npy", data)
    ds = load_dataset(f"npy:{tmp_path / 'g.npy'}")
    check_images(ds, (4, 1, 10, 6), (-1.0, 1.0))
    assert torch.allclose(ds.images.abs().amax(dim=(1, 2, 3)), torch.ones(4))
    assert torch.allclose(ds.scale, torch.from_numpy(np.abs(data).max(axis=(1, 2))))
    assert torch.allclose(ds.images[:, 0] * ds.scale[:, None, None], torch.from_numpy(data), atol=1e-5)


def test_float_above_one_uses_one_global_scale(tmp_path):
    data = np.stack([np.full((3, 3), 100.0), np.full((3, 3), 400.0)]).astype(np.float32)
    np.save(tmp_path / "ct.npy", data)
    ds = load_dataset(f"npy:{tmp_path / 'ct.npy'}")
    assert ds.images[:, 0, 0, 0].tolist() == pytest.approx([0.25, 1.0])


@pytest.mark.parametrize("array, word", [
    (np.zeros(5, np.float32), "shape"),
    (np.zeros((2, 3, 4, 5, 6), np.float32), "shape"),
    (np.zeros((2, 9, 9, 9), np.float32), "shape"),
    (np.array([[0.5, np.nan], [0.1, 0.2]], np.float32), "NaN"),
    (np.zeros((0, 4, 4), np.uint8), "empty"),
    (np.array([["a", "b"]]), "expected"),
])
def test_bad_arrays(tmp_path, array, word):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(GanreconError) as e:
        load_dataset(f"npy:{tmp_path / 'bad.npy'}")
    assert word in one_sentence(e)


def test_pickled_and_missing_arrays(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(GanreconError) as e:
        load_dataset(f"npy:{tmp_path / 'obj.npy'}")
    assert "pickle" in one_sentence(e)
    with pytest.raises(GanreconError) as e:
        load_dataset(f"npz:{tmp_path / 'missing.npz'}")
    assert "does not exist" in one_sentence(e)


# ---------------------------------------------------------------- image folders and TIFF

def _write_mixed_folder(folder):
    import tifffile
    from PIL import Image

    folder.mkdir()
    grey8 = np.tile(np.arange(0, 250, 25, dtype=np.uint8), (6, 1))             # 6 x 10
    Image.fromarray(grey8, mode="L").save(folder / "a_grey8.png")
    grey16 = (grey8.astype(np.uint16) * 257)
    Image.fromarray(grey16).save(folder / "b_grey16.png")
    palette = Image.fromarray(grey8, mode="L").convert("P")
    palette.save(folder / "c_palette.png")
    rgba = np.dstack([grey8, grey8, grey8, np.full_like(grey8, 77)])
    Image.fromarray(rgba, mode="RGBA").save(folder / "d_rgba.png")
    tifffile.imwrite(folder / "e_tiff16.tif", grey16)
    (folder / "notes.txt").write_text("not an image")
    return grey8.astype(np.float64) / 255.0


def test_folder_mixed_formats_load_consistently(tmp_path):
    expected = _write_mixed_folder(tmp_path / "imgs")
    ds = load_dataset(f"folder:{tmp_path / 'imgs'}")
    check_images(ds, (5, 1, 6, 10))
    assert ds.meta["files"] == ["a_grey8.png", "b_grey16.png", "c_palette.png", "d_rgba.png", "e_tiff16.tif"]
    for image in ds.images:
        assert np.allclose(image[0].numpy(), expected, atol=1e-3)
    rgb = load_dataset(f"folder:{tmp_path / 'imgs'}:rgb")
    check_images(rgb, (5, 3, 6, 10))
    assert torch.allclose(rgb.images[:, 0], ds.images[:, 0], atol=1e-3)


def test_folder_sizes_empty_and_broken(tmp_path):
    from PIL import Image

    folder = tmp_path / "sizes"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "a.png")
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(folder / "b.png")
    with pytest.raises(GanreconError) as e:
        load_dataset(f"folder:{folder}")
    assert "patch=(H, W)" in one_sentence(e) and "--patch" not in one_sentence(e)
    patched = load_dataset(f"folder:{folder}", patch=(4, 4))
    check_images(patched, (4 + 3 * 3, 1, 4, 4))
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanreconError) as e:
        load_dataset(f"folder:{tmp_path / 'empty'}")
    assert "no PNG" in one_sentence(e)
    (folder / "c.png").write_bytes(b"not really a png")
    with pytest.raises(GanreconError) as e:
        load_dataset(f"folder:{folder}", patch=(4, 4))
    assert "c.png" in one_sentence(e)


def test_tiff_stack_round_trip(tmp_path):
    import tifffile

    rng = np.random.default_rng(2)
    stack16 = rng.integers(0, 65536, (5, 12, 9), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "vol16.tif", stack16, photometric="minisblack")
    ds = load_dataset(f"tiff:{tmp_path / 'vol16.tif'}")
    check_images(ds, (5, 1, 12, 9))
    assert np.allclose(ds.images[:, 0].double().numpy() * 65535, stack16, atol=0.02)
    signed = rng.standard_normal((3, 12, 9)).astype(np.float32) * 7
    tifffile.imwrite(tmp_path / "volf.tif", signed, photometric="minisblack")
    ds = load_dataset(f"tiff:{tmp_path / 'volf.tif'}")
    check_images(ds, (3, 1, 12, 9), (-1.0, 1.0))
    assert torch.allclose(ds.images[:, 0] * ds.scale[:, None, None], torch.from_numpy(signed), atol=1e-5)
    (tmp_path / "fake.tif").write_bytes(b"II*\0garbage")
    with pytest.raises(GanreconError) as e:
        load_dataset(f"tiff:{tmp_path / 'fake.tif'}")
    one_sentence(e)


# ---------------------------------------------------------------- SEG-Y

def _write_segy(path, gather_t_by_x, dt_us=2000):
    import segyio

    segyio.tools.from_array2D(str(path), np.ascontiguousarray(gather_t_by_x.T), dt=dt_us,
                              format=segyio.SegySampleFormat.IEEE_FLOAT_4_BYTE)


def test_segy_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    gather = (rng.standard_normal((50, 12)) * 1234.5).astype(np.float32)  # time x traces
    _write_segy(tmp_path / "shot.sgy", gather)
    ds = load_dataset(f"segy:{tmp_path / 'shot.sgy'}")
    check_images(ds, (1, 1, 50, 12), (-1.0, 1.0))
    peak = np.abs(gather).max()
    assert float(ds.scale[0]) == pytest.approx(peak, rel=1e-6)
    assert np.allclose(ds.images[0, 0].numpy(), gather / peak, atol=1e-6)
    assert np.allclose(ds.images[0, 0].numpy() * float(ds.scale[0]), gather, rtol=1e-5, atol=1e-3)
    assert ds.meta["dt_ms"] == pytest.approx(2.0) and ds.meta["gather_dt_ms"].tolist() == [2.0]


def test_segy_folder_sizes_and_bad_files(tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    rng = np.random.default_rng(4)
    _write_segy(folder / "a.sgy", rng.standard_normal((40, 10)).astype(np.float32))
    _write_segy(folder / "b.sgy", rng.standard_normal((30, 10)).astype(np.float32))
    with pytest.raises(GanreconError) as e:
        load_dataset(f"segy:{folder}")
    assert "patch=(H, W)" in one_sentence(e) and "--patch" not in one_sentence(e)
    patched = load_dataset(f"segy:{folder}", patch=(20, 10), stride=(10, 10))
    check_images(patched, (3 + 2, 1, 20, 10), (-1.0, 1.0))
    (tmp_path / "junk.sgy").write_bytes(b"\0" * 5000)
    with pytest.raises(GanreconError) as e:
        load_dataset(f"segy:{tmp_path / 'junk.sgy'}")
    assert "SEG-Y" in one_sentence(e)


# ---------------------------------------------------------------- FER2013 and MNIST

def _fer_rows(usages):
    rng = np.random.default_rng(5)
    rows = []
    for i, usage in enumerate(usages):
        pixels = rng.integers(0, 256, 48 * 48)
        rows.append((i % 7, " ".join(map(str, pixels)), usage, pixels))
    return rows


def test_fer2013_official_split(tmp_path):
    usages = ["Training"] * 5 + ["PublicTest"] * 2 + ["PrivateTest"] * 3
    rows = _fer_rows(usages)
    (tmp_path / "fer2013").mkdir()
    with open(tmp_path / "fer2013" / "fer2013.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["emotion", "pixels", "Usage"])
        writer.writerows(r[:3] for r in rows)
    sizes = {s: len(load_dataset("fer2013", root=str(tmp_path), split=s)) for s in ("train", "val", "test")}
    assert sizes == {"train": 5, "val": 2, "test": 3}
    test = load_dataset("fer2013", root=str(tmp_path), split="test")
    check_images(test, (3, 1, 48, 48))
    assert test.meta["index"].tolist() == [7, 8, 9]
    assert test.meta["labels"].tolist() == [0, 1, 2]
    assert np.allclose(test.images[0, 0].numpy().ravel() * 255, rows[7][3], atol=1e-3)
    assert len(load_dataset("fer2013", root=str(tmp_path))) == 10


def test_fer2013_train_test_csv_and_errors(tmp_path):
    folder = tmp_path / "fer2013"
    folder.mkdir()
    rows = _fer_rows(["x"] * 7)
    with open(folder / "train.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["emotion", "pixels"])
        writer.writerows((r[0], r[1]) for r in rows[:3])
    with open(folder / "test.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["pixels"])
        writer.writerows((r[1],) for r in rows[3:])
    assert len(load_dataset(f"fer2013:{folder}", split="train")) == 3
    val = load_dataset(f"fer2013:{folder}", split="val")
    assert len(val) == 2 and val.meta["labels"].tolist() == [-1, -1]
    with pytest.raises(GanreconError) as e:
        load_dataset("fer2013", root=str(tmp_path / "nowhere"))
    assert "fer2013.csv" in one_sentence(e)
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
    with pytest.raises(GanreconError) as e:
        load_dataset(f"fer2013:{bad}")
    assert "2304" in one_sentence(e)


def test_mnist_from_local_npz(tmp_path):
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    (tmp_path / "mnist").mkdir()
    np.savez(tmp_path / "mnist" / "train.npz", images=images, labels=rng.integers(0, 10, 30))
    ds = load_dataset("mnist", root=str(tmp_path))
    check_images(ds, (30, 1, 28, 28))
    assert torch.allclose(ds.images[:, 0] * 255, torch.from_numpy(images).float())
    val = load_dataset("mnist", root=str(tmp_path), split="val", seed=1)
    assert len(val) == 3 and val.meta["labels"].shape == (3,)
    flat = tmp_path / "flat"
    flat.mkdir()
    np.savez(flat / "train.npz", images=images[:4])
    assert len(load_dataset("mnist", root=str(flat), limit=2)) == 2


def test_mnist_missing_files_says_where(tmp_path):
    with pytest.raises(GanreconError) as e:
        load_dataset("mnist", root=str(tmp_path))
    message = one_sentence(e)
    assert "--download" in message and str(tmp_path) in message
    assert not any(tmp_path.rglob("*ubyte*"))  # nothing was downloaded


# ---------------------------------------------------------------- patching, limit and general errors

def test_patches_cover_image_and_keep_amplitudes(tmp_path):
    gather = np.random.default_rng(7).standard_normal((1, 10, 7)).astype(np.float32) * 3
    np.save(tmp_path / "g.npy", gather)
    ds = load_dataset(f"npy:{tmp_path / 'g.npy'}", patch=(4, 3))
    check_images(ds, (9, 1, 4, 3), (-1.0, 1.0))
    tops_lefts = {(t, l) for _, t, l in ds.meta["origin"].tolist()}
    assert tops_lefts == {(t, l) for t in (0, 4, 6) for l in (0, 3, 4)}
    assert torch.allclose(ds.images.abs().amax(dim=(1, 2, 3)), torch.ones(9))
    for image, scale, (_, t, l) in zip(ds.images, ds.scale, ds.meta["origin"].tolist()):
        assert np.allclose(image[0].numpy() * float(scale), gather[0, t:t + 4, l:l + 3], atol=1e-5)
    limited = load_dataset(f"npy:{tmp_path / 'g.npy'}", patch=(4, 3), stride=(2, 2), limit=5)
    assert len(limited) == 5


@pytest.mark.parametrize("spec, kwargs, word", [
    ("imagenet", {}, "Unknown dataset"),
    ("", {}, "empty"),
    ("seismic:n=2,size=8x8", {"split": "dev"}, "split"),
    ("seismic:n=2,size=8x8", {"limit": 0}, "limit"),
    ("seismic:n=2,size=8x8", {"stride": (2, 2)}, "stride"),
    ("seismic:n=2,size=8x8", {"patch": (16, 4)}, "larger"),
    ("npy:", {}, "path"),
])
def test_general_errors(spec, kwargs, word):
    with pytest.raises(GanreconError) as e:
        load_dataset(spec, **kwargs)
    assert word in one_sentence(e)


def test_dataset_specs_lists_every_kind():
    assert set(DATASET_SPECS) == {"mnist", "fashion-mnist", "fer2013", "npz", "npy", "folder", "tiff", "segy",
                                  "seismic", "porous", "natural", "paired", "aligned", "photos", "deadleaves", "digits-text",
                                  "porous-ct", "porous-ct-heldout"}
    assert all(isinstance(v, str) and v and "\n" not in v for v in DATASET_SPECS.values())


def test_fashion_mnist_from_local_npz(tmp_path):
    (tmp_path / "fashion-mnist").mkdir()
    images = np.full((10, 28, 28), 51, dtype=np.uint8)
    np.savez(tmp_path / "fashion-mnist" / "train.npz", images=images)
    np.savez(tmp_path / "fashion-mnist" / "test.npz", images=images[:4])
    test = load_dataset("fashion-mnist", root=str(tmp_path), split="test")
    check_images(test, (4, 1, 28, 28))
    assert torch.allclose(test.images, torch.full_like(test.images, 0.2))
    assert len(load_dataset("fashion-mnist", root=str(tmp_path), split="train")) == 9  # 90 % of the official train
