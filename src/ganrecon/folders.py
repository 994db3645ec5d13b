"""A folder of files reconstructed into another folder, file by file, each checked by the guard on its own.

Why: a survey arrives as one SEG-Y file per shot, a scan series as one TIFF per sample. Each file is its own
`reconstruction.reconstruct` call, so a file's result does not depend on which other files are in the folder,
nor on how many processes share the work. Under torchrun the files are dealt out (every world-th file from the
process's rank); outputs are written atomically, so a file whose output exists is complete, and a rerun after a
crash or a lost node does only the files left. A multi-gather SEG-Y file is not split: the guard pools its
evidence over the gathers of one file, so splitting would change its decisions; split a large survey into files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ganrecon.errors import GanreconError
from ganrecon.files import IMAGE_SUFFIXES, SEGY_SUFFIXES, TIFF_SUFFIXES, files_in

FOLDER_SUFFIXES = IMAGE_SUFFIXES | TIFF_SUFFIXES | SEGY_SUFFIXES | {".npy"}


@dataclass
class FolderRun:
    """What one process did: the outputs it wrote, and the ones it found done by an earlier run."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def folder_inputs(folder: str | Path) -> list[Path]:
    """The files `reconstruct` reads in `folder` (not its subfolders, not hidden files), sorted by name; one
    sentence when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GanreconError(f"{folder} is not a folder.")
    files = files_in(folder, FOLDER_SUFFIXES)
    if not files:
        raise GanreconError(f"{folder} holds no file to reconstruct ({', '.join(sorted(FOLDER_SUFFIXES))}).")
    return files


def check_folder_output(inputs: Path, output: Path) -> None:
    """The output folder is not the input folder (outputs keep the input names and would overwrite them)."""
    if Path(output).resolve() == Path(inputs).resolve():
        raise GanreconError(f"-o {output} is the input folder; write the outputs to another folder (they keep "
                            "the input file names).")


def reconstruct_folder(inputs: str | Path, model, output: str | Path, *, force: bool = False,
                       progress: Callable[[int, int, str], None] | None = None,
                       notes: Callable[[str], None] | None = None, **options) -> FolderRun:
    """Every file of `inputs` into `output`/<same name> with `reconstruction.reconstruct(..., **options)`; the
    model is loaded once. Files whose output exists are skipped (a rerun resumes) unless `force`. Under torchrun
    each process takes every world-th file and all return once every file is done. `progress(done, total,
    name)` after each file; `notes` hears each file's sentences, prefixed by its name."""
    from ganrecon.inference import load_model
    from ganrecon.reconstruction import reconstruct
    from ganrecon.training.distributed import init_distributed_from_env, is_distributed, rank_and_world

    inputs, output = Path(inputs), Path(output)
    check_folder_output(inputs, output)
    files = folder_inputs(inputs)
    output.mkdir(parents=True, exist_ok=True)
    model = load_model(model) if isinstance(model, (str, Path)) else model
    distributed = init_distributed_from_env() or is_distributed()
    rank, world = rank_and_world()
    mine = files[rank::world]
    run = FolderRun()
    for done, path in enumerate(mine, 1):
        target = output / path.name
        if target.exists() and not force:
            run.skipped.append(target)
        else:
            def prefixed(sentence: str, name: str = path.name) -> None:
                if notes:
                    notes(f"{name}: {sentence}")

            try:
                run.written.append(reconstruct(path, model, target, notes=prefixed, shard=False, **options))
            except GanreconError as exc:  # which file, and that what is done stays done
                raise GanreconError(f"{path.name}: {exc} ({len(run.written) + len(run.skipped)} file(s) of "
                                    f"{len(mine)} done; a rerun goes on from there)") from None
        if progress:
            progress(done, len(mine), path.name)
    if distributed:
        import torch.distributed as dist

        dist.barrier()
    return run
