"""Training accumulates across sessions: a run may start from a shipped or earlier generator (`init:`), and its
bundle then counts the steps and seconds behind those weights too, so a model says how much compute it holds."""

from __future__ import annotations

import torch

from ganrecon.errors import GanreconError


def init_generator(generator: torch.nn.Module, ref: str, widen: bool = False) -> None:
    """Fine-tuning: start from a trained generator's weights (same architecture; float16 bundles are cast back).
    With `widen`, the weights are a narrower U-Net's, grown to this generator's width computing the same function
    (`ganrecon.models.widen`): capacity added to a campaign without starting over."""
    from ganrecon.bundles import bundle_path, load_weights_into
    from ganrecon.checkpoints import read_bundle

    path = bundle_path(ref)
    tensors = read_bundle(path)[0]
    if widen:
        from ganrecon.models.widen import widen_state

        tensors = widen_state(tensors, generator)  # cast to the generator's dtype as it grows
    load_weights_into(generator, tensors, path,
                      "init: the weights in {weights} do not fit this config's generator ({problem}); use the "
                      "generator and generator_options they were trained with.")


def lineage(init: str | None) -> tuple[int, float]:
    """Steps and training seconds behind the `init:` weights, cumulative over their own inits (0 without init):
    training accumulates across sessions, and a bundle says how much compute its weights hold."""
    if not init:
        return 0, 0.0
    import json

    from ganrecon.bundles import bundle_path

    try:
        meta = json.loads(bundle_path(init).with_suffix(".json").read_text())
    except (OSError, ValueError, GanreconError):  # no description to read: this run's own numbers only
        return 0, 0.0
    return (int(meta.get("total_steps", meta.get("steps", 0)) or 0),
            float(meta.get("total_train_seconds", meta.get("train_seconds", 0.0)) or 0.0))
