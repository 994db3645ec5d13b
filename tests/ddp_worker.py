"""Run under torchrun by tests/test_training.py: a few DDP steps through the CLI's entry point (which joins the
process group from torchrun's environment), then each rank saves its own weights."""

import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from ganrecon.training import train_from_files


def main(data_spec: str, out: str) -> None:
    torch.set_num_threads(1)
    overrides = ["task=traces", f"data={data_spec}", "degrade=columns:random:0.5",
                 "generator_options={depth: 2, width: 4}", "discriminator_options={width: 4}", "steps=4",
                 "batch_size=8", "val_images=8", "eval_every=4", "checkpoint_every=4", "log_every=1", "threads=1"]
    result = train_from_files(None, overrides, Path(out) / "run", progress=False)
    state = {k: v.contiguous() for k, v in result.generator.state_dict().items()}
    save_file(state, str(Path(out) / f"rank{os.environ['RANK']}.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
