import pytest
import torch

from ganrecon.errors import GanreconError
from ganrecon.models import build_generator
from ganrecon.models.widen import widen_state


def _unet(width: int, depth: int = 2, **options) -> torch.nn.Module:
    torch.manual_seed(width)
    return build_generator("unet", channels=1, image_size=(16, 16), depth=depth, width=width, **options)


def _randomised(model: torch.nn.Module) -> torch.nn.Module:
    """Trained-looking weights and BatchNorm statistics, not the initialisation's ones and zeros."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5 if "running_var" in name
                        else torch.randn(t.shape, generator=g) * 0.3)
    return model


@pytest.mark.parametrize("options", [{}, {"prior": "linear"}])
def test_a_widened_unet_computes_what_the_narrow_one_did_in_both_modes(options):
    narrow = _randomised(_unet(4, **options))
    wide = _unet(6, **options)
    wide.load_state_dict(widen_state(narrow.state_dict(), wide))
    observed, mask = torch.rand(3, 1, 16, 16), (torch.rand(3, 1, 16, 16) > 0.5).float()
    for train in (False, True):  # eval: running statistics; train: each channel's own batch statistics
        narrow.train(train), wide.train(train)
        assert torch.allclose(wide(observed, mask), narrow(observed, mask), atol=1e-5)


def test_new_channels_learn_from_the_first_step():
    narrow = _randomised(_unet(4))
    wide = _unet(6)
    wide.load_state_dict(widen_state(narrow.state_dict(), wide))
    wide(torch.rand(2, 1, 16, 16), torch.ones(2, 1, 16, 16)).square().mean().backward()
    head = wide.head.weight.grad  # (1, 6, 1, 1): the two new channels' outgoing weights
    assert wide.head.weight[:, 4:].abs().sum() == 0 and head[:, 4:].abs().sum() > 0


def test_widening_refuses_anything_but_a_wider_unet_of_the_same_layout():
    narrow = _unet(6)
    with pytest.raises(GanreconError, match="only grow wider"):
        widen_state(narrow.state_dict(), _unet(4))
    with pytest.raises(GanreconError, match="more than width"):
        widen_state(narrow.state_dict(), _unet(8, depth=3))
    lenet = build_generator("lenet", channels=1, image_size=(16, 16))
    with pytest.raises(GanreconError, match="needs a unet"):
        widen_state(lenet.state_dict(), lenet)
