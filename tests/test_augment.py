import pytest
import torch
from conftest import tiny_overrides

from ganrecon.config import load_config
from ganrecon.errors import GanreconError
from ganrecon.training import train
from ganrecon.training.augment import augment_batch, check_augment


def _variants(image: torch.Tensor) -> list[torch.Tensor]:
    return [torch.rot90(v, k, (-2, -1)) for v in (image, image.flip(-1)) for k in range(4)]


@pytest.mark.parametrize("name,allowed", [("mirror", {0, 4}), ("dihedral", set(range(8)))])
def test_each_image_gets_its_own_turn_or_mirror(name, allowed):
    images = torch.rand(64, 2, 6, 6)
    out = augment_batch(images, name, torch.Generator().manual_seed(0))
    seen = set()
    for before, after in zip(images, out):
        seen |= {i for i, v in enumerate(_variants(before)) if torch.equal(v, after)}
    assert seen == allowed                          # 64 draws use every allowed orientation, and no other
    assert torch.equal(augment_batch(images, "none", torch.Generator()), images)


def test_mirror_works_on_any_shape_and_the_rest_is_refused_in_one_sentence():
    images = torch.rand(32, 1, 4, 6)
    out = augment_batch(images, "mirror", torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) or torch.equal(a.flip(-1), b) for a, b in zip(images, out))
    with pytest.raises(GanreconError, match="square"):
        check_augment("dihedral", (4, 6), paired=False)
    with pytest.raises(GanreconError, match="paired"):
        check_augment("mirror", (4, 4), paired=True)
    with pytest.raises(GanreconError, match="Unknown augment"):
        check_augment("rotate", (4, 4), paired=False)


def test_a_run_with_augmentation_trains_and_validates_on_plain_images(tmp_path, tiny_npz):
    plain = train(load_config(overrides=tiny_overrides(tiny_npz, steps=6, eval_every=6)), tmp_path / "plain",
                  progress=False)
    turned = train(load_config(overrides=tiny_overrides(tiny_npz, steps=6, eval_every=6, augment="dihedral")),
                   tmp_path / "turned", progress=False)
    assert turned.last_validation["linear"] == plain.last_validation["linear"]   # validation is never turned
    assert turned.last_validation["model"] != plain.last_validation["model"]     # training batches were
