"""ganrecon: reconstruct degraded images with GANs, always measured against the conventional method.

    from ganrecon import load_dataset, parse_degradation, load_model, evaluate, reconstruct, train, GuardedModel
    from ganrecon import adapt_survey, SurveyAdaptConfig, read_survey     # survey-level adaptation

The names are loaded on first use, so `import ganrecon` stays cheap (no torch until one is needed).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_API = {
    "load_dataset": "ganrecon.data",
    "parse_degradation": "ganrecon.degrade",
    "load_model": "ganrecon.inference",
    "evaluate": "ganrecon.evaluation",
    "reconstruct": "ganrecon.reconstruction",
    "train": "ganrecon.training",
    "GuardedModel": "ganrecon.guard",
    "adapt_survey": "ganrecon.adapt_survey",
    "SurveyAdaptConfig": "ganrecon.adapt_survey",
    "read_survey": "ganrecon.survey",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'ganrecon' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
