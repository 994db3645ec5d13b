import pytest
import torch

from ganrecon.errors import GanreconError
from ganrecon.models import build_discriminator, build_generator
from ganrecon.models.discriminators import patch_layers_for


@pytest.mark.parametrize("name", ["linear", "lenet", "unet"])
@pytest.mark.parametrize("size", [(28, 28), (128, 64)])
@pytest.mark.parametrize("value_range", [(0.0, 1.0), (-1.0, 1.0)])
def test_generators_shapes_range_and_gradients(name, size, value_range):
    if name == "linear" and size == (128, 64):
        with pytest.raises(GanreconError, match="small images"):
            build_generator(name, channels=1, image_size=size, value_range=value_range)
        return
    gen = build_generator(name, channels=1, image_size=size, value_range=value_range,
                          **({"width": 4, "depth": 2} if name == "unet" else {}))
    x = torch.randn(2, 1, *size)
    mask = (torch.rand(2, 1, 1, size[1]) > 0.5).float().expand_as(x)
    y = gen(x * mask, mask)
    assert y.shape == x.shape
    if value_range[0] >= 0:  # images stay in range; signed amplitudes are unbounded by design
        assert y.min() >= value_range[0] and y.max() <= value_range[1]
    y.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in gen.parameters())


def test_unet_handles_odd_sizes():
    gen = build_generator("unet", channels=1, image_size=(28, 28), depth=3, width=4)
    assert gen(torch.rand(1, 1, 37, 23), None).shape == (1, 1, 37, 23)


def test_unet_folds_batchnorm_at_inference_only():
    """Eval without gradients folds each BatchNorm into its convolution (models/layers.py `conv_bn`): the same
    output to rounding, with the parameter names bundles were saved under; training still uses batch statistics."""
    torch.manual_seed(0)
    gen = build_generator("unet", channels=1, image_size=(32, 32), depth=2, width=4)
    names = [name for name, _ in gen.named_parameters()]
    gen(torch.randn(4, 1, 32, 32), None)  # a training pass: running statistics move away from 0 and 1
    gen.eval()
    x = torch.randn(2, 1, 32, 32)
    reference = gen(x, None)
    with torch.no_grad():
        folded = gen(x, None)
    torch.testing.assert_close(folded, reference.detach(), atol=1e-5, rtol=1e-5)
    assert [name for name, _ in gen.named_parameters()] == names
    assert any(name.endswith(".1.running_var") for name in gen.state_dict())  # BatchNorm kept its place


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_srresnet_scales(scale):
    gen = build_generator("srresnet", channels=1, image_size=(16, 16), scale=scale, blocks=1, width=8)
    assert gen(torch.rand(1, 1, 12, 10)).shape == (1, 1, 12 * scale, 10 * scale)


@pytest.mark.parametrize("name", ["patch", "conv"])
@pytest.mark.parametrize("size", [(28, 28), (128, 64), (64, 64), (256, 256)])
def test_discriminators_shapes_and_gradients(name, size):
    disc = build_discriminator(name, channels=1, image_size=size, width=4)
    obs, cand = torch.rand(2, 1, *size), torch.rand(2, 1, *size, requires_grad=True)
    out = disc(obs, cand)
    if name == "conv":
        assert out.shape == (2, 1)
    else:
        assert out.shape[:2] == (2, 1) and min(out.shape[-2:]) >= 4  # a spatial map, even for 28x28
    out.mean().backward()
    assert cand.grad is not None and cand.grad.abs().sum() > 0


def test_patchgan_is_sized_to_the_input():
    assert patch_layers_for((28, 28)) < 3  # three layers would see a digit as one patch
    assert patch_layers_for((256, 256)) == 3  # the 70x70 PatchGAN


def test_patch_discriminator_upsamples_low_resolution_condition():
    disc = build_discriminator("patch", channels=1, image_size=(64, 64), width=4)
    assert disc(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 64, 64)).dim() == 4


def test_unknown_model_names_are_one_sentence():
    with pytest.raises(GanreconError, match="Unknown generator"):
        build_generator("resnet9000", channels=1, image_size=(28, 28))
    with pytest.raises(GanreconError, match="Unknown discriminator"):
        build_discriminator("mlp9", channels=1, image_size=(28, 28))
    with pytest.raises(GanreconError, match="Bad option"):
        build_generator("unet", channels=1, image_size=(28, 28), colour="blue")
