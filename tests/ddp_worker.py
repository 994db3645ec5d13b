"""Run under torchrun by tests/test_training.py: a few DDP steps, then each rank saves its own weights."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from ganrecon.config import load_config
from ganrecon.training import train


def main(data_spec: str, out: str) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.set_num_threads(1)
    config = load_config(overrides={"task": "traces", "data": data_spec, "degrade": "columns:random:0.5",
                                    "generator_options": {"depth": 2, "width": 4}, "discriminator_options":
                                    {"width": 4}, "steps": 4, "batch_size": 8, "val_images": 8, "eval_every": 4,
                                    "checkpoint_every": 4, "log_every": 1, "threads": 1})
    result = train(config, Path(out) / "run", progress=False)
    state = {k: v.contiguous() for k, v in result.generator.state_dict().items()}
    save_file(state, str(Path(out) / f"rank{rank}.safetensors"))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
