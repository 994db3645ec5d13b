"""The run's place among processes: device, rank, world size, and the agreement every rank needs before it
stops, finishes early or declares divergence (a rank that leaves alone leaves the others waiting forever)."""

from __future__ import annotations

import gc
import os

import torch
import torch.distributed as dist

from ganrecon.errors import GanreconError


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank_and_world() -> tuple[int, int]:
    if is_distributed():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if is_distributed() and torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise GanreconError(f"Unknown device {name!r}; use auto, cpu or cuda.") from None


def any_rank(flags: list[bool], distributed: bool) -> list[bool]:
    """Each flag true if it holds on any rank, so that every rank takes the same branch (stop, finish early,
    divergence); one all-reduce for all flags."""
    value = torch.tensor([1.0 if f else 0.0 for f in flags])
    if distributed:
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return [bool(v) for v in value.tolist()]


def broadcast_buffers(modules, distributed: bool) -> None:
    """BatchNorm statistics are per rank; DDP syncs them at the next forward, so at the end of a run do it now."""
    if not distributed:
        return
    for module in modules:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def init_distributed_from_env() -> bool:
    """Under torchrun (WORLD_SIZE > 1) join the process group: NCCL with one GPU per process, else gloo."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available() or dist.is_initialized():
        return False
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return True


def leave_process_group(all_finished: bool) -> None:
    """Tear the group down while the interpreter is whole. Gloo's worker threads drop their last collectives
    (and the tensors in them, which Python still references) only after those collectives return; a thread
    that does so while the interpreter finalises aborts the process ("terminate called without an active
    exception"), which failed a finished run. So every finished rank waits for the others, the DDP wrappers
    that still hold the group are collected, and then the group is destroyed, which joins its threads."""
    if all_finished:
        dist.barrier()
    gc.collect()
    dist.destroy_process_group()
