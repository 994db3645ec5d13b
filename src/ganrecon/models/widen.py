"""Growing a trained U-Net wider without changing what it computes, so that a campaign whose curve has flattened
at one width can add capacity and go on from the weights it has instead of starting over (Net2Net's idea, with
silent new channels instead of copied ones).

Every old channel keeps its weights. A new channel gets the fresh initialisation of the wider network for its
incoming weights and zero outgoing weights into every old channel, so at the start it changes nothing downstream;
the first gradient step gives its outgoing weights a value and from then on it learns. BatchNorm is per channel,
so new channels leave the old channels' statistics alone. Concatenated skips are mapped half by half: the old
upsampled features to the front of the new upsampled block, the old skip features to the front of the new skip
block.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from ganrecon.errors import GanreconError
from ganrecon.models.generators import UNetGenerator

_CONCAT_INPUT = re.compile(r"(^|\.)dec\.\d+\.0$")  # the first convolution after [upsampled, skip]


def _input_positions(name: str, old: int, new: int) -> torch.Tensor:
    """Where each of the old layer's input channels sits among the new layer's inputs."""
    if _CONCAT_INPUT.search(name):
        half_old, half_new = old // 2, new // 2
        return torch.cat([torch.arange(half_old), half_new + torch.arange(half_old)])
    return torch.arange(old)


def _widen_weight(layer: str, fresh: torch.Tensor, old: torch.Tensor, transposed: bool) -> torch.Tensor:
    """A convolution's weight (out, in, ...) or, `transposed`, (in, out, ...): the old block in place, zero from
    new inputs into old outputs, the fresh initialisation elsewhere."""
    out_dim, in_dim = (1, 0) if transposed else (0, 1)
    grown = fresh.detach().clone()
    inputs = _input_positions(layer, old.shape[in_dim], fresh.shape[in_dim])
    silent = torch.ones(fresh.shape[in_dim], dtype=torch.bool)
    silent[inputs] = False
    rows = grown.narrow(out_dim, 0, old.shape[out_dim])  # a view: the old outputs' rows
    rows.index_fill_(in_dim, silent.nonzero().flatten(), 0.0)
    rows.index_copy_(in_dim, inputs, old.to(grown.dtype))
    return grown


def _unet_prefix(model: nn.Module) -> str:
    for name, module in model.named_modules():
        if isinstance(module, UNetGenerator):
            return f"{name}." if name else ""
    raise GanreconError("Widening needs a unet generator (or a prior refiner around one).")


def widen_state(old_state: dict[str, torch.Tensor], wide: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict for `wide` (a freshly built, wider U-Net of the same depth) that computes what `old_state`'s
    narrower U-Net computed. Raises GanreconError when the two differ in anything but width."""
    prefix = _unet_prefix(wide)
    fresh = wide.state_dict()
    if set(fresh) != set(old_state):
        raise GanreconError("init_widen: the weights and the config's generator differ in more than width "
                            "(another depth, prior or generator); only generator_options.width may grow.")
    grown = {key: old_state[key].to(t.dtype) if old_state[key].shape == t.shape else t
             for key, t in fresh.items()}  # anything outside the convolutions and BatchNorms is kept as trained
    for name, module in wide.named_modules():
        if not isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)):
            continue
        for key, tensor in module.state_dict().items():
            full = f"{name}.{key}"
            old = old_state[full]
            if any(o > n for o, n in zip(old.shape, tensor.shape)) or old.dim() != tensor.dim():
                raise GanreconError(f"init_widen: {full} is {tuple(old.shape)} in the weights and "
                                    f"{tuple(tensor.shape)} in the config; a U-Net can only grow wider.")
            if key == "weight" and not isinstance(module, nn.BatchNorm2d):
                grown[full] = _widen_weight(name[len(prefix):], tensor, old,
                                            isinstance(module, nn.ConvTranspose2d))
            elif old.dim() == 0:
                grown[full] = old.clone()
            else:  # biases and BatchNorm's per-channel parameters and statistics
                grown[full] = tensor.detach().clone()
                grown[full][:old.shape[0]] = old.to(tensor.dtype)
    return grown
