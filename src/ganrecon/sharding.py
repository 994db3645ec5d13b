"""Slices of one input shared among processes under torchrun: each rank reconstructs every world-th slice into a
part file next to the output, and rank 0 assembles the parts in input order.

Why: a micro-CT volume of 2,000 slices outgrows two cores. torchrun starts the processes (on one node or many,
the same launcher as DDP training) and gloo gives the barrier; there is no scheduler of our own. Parts are
written atomically, so a rerun after a crash or a lost node skips every slice already done, and the output
appears only when the whole stack is there.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np


class Shards:
    """The part files of `count` slices for `output`: `<output>.parts/slice-000000.npy`, ..."""

    def __init__(self, output: Path, count: int):
        self.output, self.count = Path(output), int(count)
        self.folder = self.output.with_name(self.output.name + ".parts")

    def part(self, index: int) -> Path:
        return self.folder / f"slice-{index:06d}.npy"

    def pending(self, rank: int, world: int) -> list[int]:
        """This rank's share (every world-th slice from its rank) that has no part yet."""
        return [i for i in range(rank, self.count, world) if not self.part(i).is_file()]

    def write(self, index: int, array: np.ndarray) -> None:
        """One slice's result, atomically: a half-written part never counts as done."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.part(index).with_suffix(".tmp.npy")
        np.save(tmp, np.ascontiguousarray(array))
        tmp.replace(self.part(index))

    def parts(self) -> Iterator[np.ndarray]:
        """Every slice in input order (all must be done)."""
        for i in range(self.count):
            yield np.load(self.part(i))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def run_sharded(count: int, output: Path, reconstruct_slice: Callable[[int], np.ndarray],
                assemble: Callable[[Iterator[np.ndarray]], None]) -> None:
    """Under an initialised process group: this rank's pending slices into parts, a barrier, then rank 0 runs
    `assemble(parts in order)` and removes the parts; every rank returns after the output exists."""
    import torch.distributed as dist

    rank, world = dist.get_rank(), dist.get_world_size()
    shards = Shards(output, count)
    for index in shards.pending(rank, world):
        shards.write(index, reconstruct_slice(index))
    dist.barrier()
    if rank == 0:
        assemble(shards.parts())
        shards.remove()
    dist.barrier()
