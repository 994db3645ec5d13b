"""The shipped models as their descriptions say (`pretrained/NAME.json`), read without loading any weights: for
`ganrecon info` and the web app's model list."""

from __future__ import annotations

import json

from ganrecon.bundles import PRETRAINED_DIR, pretrained_names


def shipped_meta() -> dict[str, dict]:
    """name -> the model's description (an empty dict when its JSON is missing or unreadable)."""
    out = {}
    for name in pretrained_names():
        path = PRETRAINED_DIR / f"{name}.json"
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError):
            meta = {}
        out[name] = meta if isinstance(meta, dict) else {}
    return out


def describe_model(meta: dict) -> str:
    """A model in one line: its own `description`, else what its task, generator and data say."""
    if meta.get("description"):
        return str(meta["description"])
    data = meta.get("data")
    data = ", ".join(data) if isinstance(data, list) else data
    return f"{meta.get('task', '?')} model ({meta.get('generator', '?')}), trained on {data or 'unknown data'}"


def shipped_descriptions() -> dict[str, str]:
    return {name: describe_model(meta) for name, meta in shipped_meta().items()}
