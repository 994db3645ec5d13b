"""Every output path of a command checked before any work: a long evaluation must not end in a traceback because
`--json` names a folder that cannot exist, nor write its figure and then fail on `--report`.

`check_outputs` is the one place that decides whether a set of outputs can be written; each command calls it
with all of its outputs first, so either all of them can be written or nothing is computed and nothing is
written. Writability is tested by creating (and deleting) a probe file in the nearest existing folder, which
answers for permissions, read-only mounts and pseudo file systems such as /proc alike.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ganrecon.errors import GanreconError


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def _probe(folder: Path, option: str, path: Path) -> None:
    """A file can be created (and removed) in `folder`, or one sentence saying why not."""
    try:
        fd, name = tempfile.mkstemp(prefix=".ganrecon-probe-", dir=folder)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise GanreconError(f"{option} {path} cannot be written ({reason.lower()} in {folder}).") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)


def _check_one(option: str, path: Path, folder: bool, force: bool) -> None:
    if path.exists():
        if folder and not path.is_dir():
            raise GanreconError(f"{option} {path} is a file; give a folder (the page is written as "
                                f"{path}/index.html)." if option == "--report" else
                                f"{option} {path} is a file; give a folder.")
        if not folder and path.is_dir():
            raise GanreconError(f"{option} {path} is a folder; give a file name.")
        if not folder and not force:
            raise GanreconError(f"{path} already exists; pass --force to overwrite it.")
    start = path if folder else path.parent
    existing = _nearest_existing(start)
    if not existing.is_dir():
        raise GanreconError(f"{option} {path} cannot be written: {existing} is a file, not a folder.")
    _probe(existing, option, path)


def check_outputs(files: dict[str, str | Path | None] | None = None,
                  folders: dict[str, str | Path | None] | None = None, *, inputs=(), force: bool = True) -> None:
    """Raise one sentence unless every output can be written. `files` / `folders`: {option: path or None}
    (None = not asked for). An output may not be one of `inputs` nor share a path with another output;
    without `force`, an existing output file is refused too."""
    entries = [(opt, Path(p), False) for opt, p in (files or {}).items() if p is not None]
    entries += [(opt, Path(p), True) for opt, p in (folders or {}).items() if p is not None]
    given = {Path(i).resolve() for i in inputs if i is not None}
    seen: dict[Path, tuple[str, bool]] = {}
    for option, path, folder in entries:
        resolved = path.resolve()
        if resolved in given:
            raise GanreconError(f"{option} {path} is the input file; write the output to another file.")
        if resolved in seen and not (folder and seen[resolved][1]):   # two folders may be one (demo --out, --report)
            raise GanreconError(f"{seen[resolved][0]} and {option} name the same path {path}; give each its own.")
        seen[resolved] = (option, folder)
        _check_one(option, path, folder, force)
