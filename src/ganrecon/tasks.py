"""The task records. A task is data, not a new trainer: it names its default data, degradation, models, loss
weights, the baselines it is judged against and the training strategy that runs it (`ganrecon.training`).
Adding a task means adding one record here."""

from __future__ import annotations

from dataclasses import dataclass, field

from ganrecon.errors import GanreconError


@dataclass(frozen=True)
class Task:
    name: str
    summary: str
    defaults: dict = field(default_factory=dict)   # TrainConfig fields
    baselines: tuple[str, ...] = ()                # the conventional methods a practitioner would use: the one
                                                   # list every scorer takes (ganrecon.scoring.baseline_methods)
    strategy: str = "conditional"                  # how `train` runs it: conditional or unconditional GAN


TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        Task(
            "traces",
            "missing columns / seismic traces -> conditional GAN (linear, lenet, unet generators)",
            dict(data="mnist", degrade="columns:random:0.5", generator="unet", discriminator="patch",
                 content="l1", content_weight=100.0, adversarial_weight=1.0, missing_weight=1.0,
                 data_consistency=True),
            ("zero-fill", "nearest", "linear", "cubic", "biharmonic", "fk", "pocs", "sliding-fk", "fx",
             "dip-steered", "consensus"),
            strategy="conditional",
        ),
        Task(
            "superres",
            "blur + downsample x2/x4/x8 -> SRResNet, then SRGAN adversarial fine-tuning",
            # warmup_steps = the content-only SRResNet phase (saved as model-content), then SRGAN fine-tuning;
            # Adam beta1 0.9 as in SRGAN (0.5 is the pix2pix choice, tuned for a strong adversarial term)
            dict(data="porous", degrade="down:4", generator="srresnet", discriminator="srgan",
                 content="l1", content_weight=1.0, adversarial_weight=1e-3, perceptual_weight=0.0,
                 data_consistency=False, warmup_steps=1000, beta1=0.9, lr=1e-4),
            ("bicubic",),
            strategy="conditional",
        ),
        Task(
            "translate",
            "paired A->B translation (pix2pix); built-in atmospheric turbulence",
            dict(data="natural", degrade="turbulence:1.0", generator="unet",
                 generator_options={"depth": "auto", "dropout": 0.5}, discriminator="patch", content="l1",
                 content_weight=100.0, adversarial_weight=1.0, data_consistency=False, lr_decay="linear"),
            ("identity", "wiener", "richardson-lucy"),
            strategy="conditional",
        ),
        Task(
            "denoise",
            "salt & pepper / Gaussian noise -> conditional U-Net GAN (MSE + adversarial)",
            dict(data="mnist", degrade="sp:0.15", generator="unet", discriminator="conv", content="mse",
                 content_weight=100.0, adversarial_weight=1.0, data_consistency=False),
            ("noisy", "median3", "median5", "adaptive-median", "switching-median", "impulse-biharmonic", "tv", "nlm",
             "bm3d"),
            strategy="conditional",
        ),
        Task(
            "latent",
            "keep a subset of pixels + noise -> optimise z of a pretrained unconditional generator",
            dict(data="mnist", degrade="keep-first:400+gauss:0.05", generator="mlp", discriminator="mlp",
                 batch_size=64, val_images=64, data_consistency=False),
            ("zero-fill", "biharmonic"),
            strategy="unconditional",
        ),
    ]
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise GanreconError(f"Unknown task {name!r}; choose one of {', '.join(TASKS)}.")
    return TASKS[name]


def task_defaults(name: str) -> dict:
    return {"task": name, **get_task(name).defaults}
