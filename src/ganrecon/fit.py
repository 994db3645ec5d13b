"""Which model fits which input, said before any work: a super-resolution model needs a `down:S` degradation of
its own factor (anything else ends in a shape mismatch deep inside an evaluation), and an upload to the web app
gets the shipped model made for its kind of data (a seismic gather the seismic model, not the digits one)."""

from __future__ import annotations

from ganrecon.errors import GanreconError


def check_model_fits(model, degradation) -> None:
    """One sentence unless `model` can undo `degradation` (a Degradation, e.g. from parse_degradation)."""
    scale = int(getattr(model, "scale", 1))
    factor = int(getattr(degradation, "scale", 1))
    spec = getattr(degradation, "spec", "") or str(degradation)
    if scale != 1 and factor != scale:
        raise GanreconError(f"{model.name} is a x{scale} super-resolution model, so it needs the degradation "
                            f"down:{scale}, not {spec!r}.")
    if scale == 1 and factor != 1:
        raise GanreconError(f"{model.name} is not a super-resolution model, so it cannot undo {spec!r}; use a "
                            f"x{factor} super-resolution model.")


def default_model(task: str, signed: bool, choices: list[tuple[str, str, bool]]) -> str:
    """The shipped model of `task` that fits the data: for signed amplitudes (seismic) one trained on signed data,
    for images one trained on images. `choices` = (task, name, trained on signed data); one sentence when the
    task has no model."""
    names = [(name, on_signed) for t, name, on_signed in choices if t == task]
    if not names:
        raise GanreconError(f"No shipped model for the {task} task.")
    fitting = [name for name, on_signed in names if on_signed == signed]
    return (fitting or [names[0][0]])[0]
