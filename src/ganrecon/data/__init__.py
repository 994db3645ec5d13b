"""Datasets: one spec string -> clean float32 N x C x H x W images with a known value range.

    from ganrecon.data import load_dataset
    train = load_dataset("seismic:n=256,noise=0.05", split="train")
    digits = load_dataset("mnist", root="~/data", download=True, limit=1000)

`DATASET_SPECS` lists every kind with a one-line help; see `load_dataset` for split, patch and limit.
"""

from __future__ import annotations

from ganrecon.data.imageset import ImageSet
from ganrecon.data.loader import DATASET_SPECS, USER_FILE_KINDS, default_root, default_split, load_dataset
from ganrecon.data.splits import split_indices

__all__ = ["DATASET_SPECS", "USER_FILE_KINDS", "ImageSet", "default_root", "default_split", "load_dataset",
           "split_indices"]
