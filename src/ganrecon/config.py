"""Training configuration as plain data: a dataclass loadable from YAML and overridable with `key=value`.

Every run writes its resolved config next to its outputs, so a result can be reproduced from its folder alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ganrecon.errors import GanreconError


@dataclass
class TrainConfig:
    """Everything a training run depends on. Defaults come from the task record (`ganrecon.tasks`)."""

    task: str = "traces"
    # data
    data: str | list[str] = "mnist"      # a list: train on the union of the data sets
    data_root: str | None = None
    download: bool = False               # let torchvision fetch mnist / fashion-mnist into data_root
    val_data: str | list[str] | None = None  # default: the `val` split of `data`; a list: equal shares
    degrade: str | list[str] = "columns:random:0.5"   # a list: one spec drawn per batch (e.g. blind denoising)
    val_degrade: str | list[str] | None = None  # default: the first of `degrade`; a list: validation on each,
                                         # the model judged by the mean (one blind model, several noises)
    mix_per_image: bool = False          # a degrade list: each image draws its spec, not each batch (BatchNorm)
    augment: str = "none"                # "mirror" / "dihedral": each training image turned and mirrored afresh
                                         # at every step (training.augment); validation images never are
    patch: str | None = None             # "HxW": cut large images into patches
    limit: int | None = None             # at most this many training images
    val_images: int = 256
    direction: str = "AtoB"              # "BtoA": learn the reverse mapping, e.g. clean -> degraded (pix2pix)
    # models
    generator: str = "unet"
    generator_options: dict = field(default_factory=dict)
    discriminator: str = "patch"
    discriminator_options: dict = field(default_factory=dict)
    data_consistency: bool = True        # keep observed entries exactly in the output
    init: str | None = None              # start the generator from these weights (run dir, bundle or shipped name)
    init_widen: bool = False             # init's U-Net is narrower: grow it to generator_options.width (models.widen)
    # losses
    adversarial: str = "vanilla"
    adversarial_weight: float = 1.0
    content: str = "l1"
    content_weight: float = 100.0
    missing_weight: float = 1.0
    perceptual_weight: float = 0.0       # > 0: VGG19 feature loss added to the content loss (weights must be cached)
    spectral_weight: float = 0.0         # > 0: log band-power difference (losses.spectrum_loss) added to the content loss
    diversity_weight: float = 0.0        # > 0: two draws of a sampler (noise_channels) differ as two degradation draws do
    # optimisation
    steps: int = 2000
    max_seconds: float | None = None     # wall-clock budget: stop early (and finish normally) once exceeded
    batch_size: int = 32
    echo: int = 1                        # > 1: each degraded example trained on about this many times, a fresh
                                         # batch every `echo` steps (training.echo: a costly prior computed once)
    lr: float = 2e-4
    lr_d: float | None = None            # default: lr
    beta1: float = 0.5
    beta2: float = 0.999
    lr_decay: str = "none"               # "linear": constant for the first half, then linearly to 0 (pix2pix);
                                         # "linear-budget": the same over steps or max_seconds, whichever is ahead
    warmup_steps: int = 0                # content-only steps before the adversarial game starts
    ema: float = 0.999                   # EMA decay of generator weights (0 disables)
    seed: int = 0
    # engineering
    device: str = "auto"
    amp: bool = False                    # bf16 autocast (fp16 + GradScaler on GPUs without bf16)
    channels_last: bool = True
    threads: int | None = None
    eval_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    tensorboard: bool = False            # also write TensorBoard events to RUN_DIR/tensorboard (extra: tensorboard)

    def degrade_list(self) -> list[str]:
        return [self.degrade] if isinstance(self.degrade, str) else list(self.degrade)

    def val_degrade_list(self) -> list[str]:
        if not self.val_degrade:
            return self.degrade_list()[:1]
        return [self.val_degrade] if isinstance(self.val_degrade, str) else list(self.val_degrade)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _coerce(key: str, value):
    """Check a value against the field it sets; YAML already typed it, this catches the wrong kind early."""
    top = key.split(".")[0]
    if top not in FIELDS:
        raise GanreconError(f"Unknown config key {top!r}; known keys: {', '.join(FIELDS)}.")
    default = FIELDS[top].default
    if "." in key or value is None or isinstance(default, type(dataclasses.MISSING)):
        return value
    if isinstance(default, bool) and not isinstance(value, bool):
        raise GanreconError(f"Config key {key!r} must be true or false, got {value!r}.")
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, (int, float)) and not isinstance(default, bool) and not isinstance(value, (int, float)):
        raise GanreconError(f"Config key {key!r} must be a number, got {value!r}.")
    return value


def parse_overrides(items: list[str]) -> dict:
    """["key=value", "generator_options.width=16"] -> {"key": value, ...}, values parsed as YAML."""
    pairs = {}
    for item in items:
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise GanreconError(f"Override {item!r} must look like key=value.")
        try:
            pairs[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            pairs[key.strip()] = raw
    return pairs


def apply_overrides(config: TrainConfig, overrides: dict | list[str]) -> TrainConfig:
    """Apply {"key": value} or ["key=value", "generator_options.width=16"] (values parsed as YAML)."""
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    data = config.to_dict()
    for key, value in overrides.items():
        value = _coerce(key, value)
        if "." in key:
            top, sub = key.split(".", 1)
            if not isinstance(data[top], dict):
                raise GanreconError(f"Config key {top!r} has no sub-keys, so {key!r} cannot be set.")
            data[top] = {**data[top], sub: value}
        else:
            data[key] = value
    return TrainConfig(**data)


def load_config(path: str | Path | None = None, overrides: list[str] | dict | None = None) -> TrainConfig:
    """Task defaults <- YAML file <- overrides."""
    from ganrecon.tasks import task_defaults

    raw: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise GanreconError(f"Config file {path} does not exist.")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise GanreconError(f"Config file {path} is not valid YAML ({str(exc).splitlines()[0]}).") from None
        if not isinstance(raw, dict):
            raise GanreconError(f"Config file {path} must hold a mapping of keys to values.")
    if isinstance(overrides, list):  # so that `--set task=translate` brings that task's defaults too
        overrides = parse_overrides(overrides)
    task = (overrides or {}).get("task") or raw.get("task", "traces")
    config = apply_overrides(TrainConfig(), task_defaults(task))
    config = apply_overrides(config, raw)
    if overrides:
        config = apply_overrides(config, overrides)
    return config


def save_config(config: TrainConfig, path: Path) -> None:
    from ganrecon.io_utils import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
