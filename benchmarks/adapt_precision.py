"""bf16 against fp32 training steps in survey adaptation -> docs/results/adapt_precision.{json,md}

The survey of benchmarks/seismic_survey.py (60 pylops shots at 25 m, 50% random traces missing) adapted twice
from the same shipped weights, seed and step streams, once per precision: --steps steps, held-out known traces
scored (always in fp32) every --eval-every steps. Reported: seconds per training step (the loop's log, held-out
passes left out) and the held-out SNR at each score. bf16 is worth taking where it is faster and its held-out
SNR is within 0.05 dB of fp32's (the issue's tolerance for faster modes).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/adapt_precision.py [--steps 400] [--threads 2]
"""

from __future__ import annotations

import argparse
import csv
import math
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from ganrecon.adapt_survey import SurveyAdaptConfig, adapt_survey
from ganrecon.io_utils import atomic_write_json, atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import seismic_survey  # noqa: E402  (the survey generator, shared)


def step_seconds(run: Path, eval_every: int) -> tuple[float, float]:
    """Median seconds per training step between logged steps, leaving out the windows that hold a held-out pass;
    and the median extra seconds of those windows: one held-out pass over the survey (and its checkpoint)."""
    with open(run / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    plain, with_pass = [], []
    for a, b in zip(rows, rows[1:]):
        s0, s1 = int(a["step"]), int(b["step"])
        seconds = float(b["seconds"]) - float(a["seconds"])
        scored = any(v % eval_every == 0 for v in range(s0, s1))  # a step's score comes after its log line
        (with_pass if scored else plain).append((seconds, s1 - s0))
    step = statistics.median(t / n for t, n in plain)
    return step, statistics.median(t - n * step for t, n in with_pass) if with_pass else math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--shots", type=int, default=60)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(ROOT / "docs" / "results"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    plan = dict(seismic_survey.FULL, shots=args.shots)
    results = {}
    with tempfile.TemporaryDirectory(prefix="adapt-precision-") as work:
        survey = seismic_survey.make_survey(25.0, plan, Path(work))
        for precision in ("fp32", "bf16"):
            run = Path(work) / precision
            start = time.perf_counter()
            config = SurveyAdaptConfig(survey=str(survey["path"]), steps=args.steps, seconds=None,
                                       eval_every=args.eval_every, threads=args.threads, precision=precision)
            adapt_survey(config, run, progress=False)
            step, held_out_pass = step_seconds(run, args.eval_every)
            results[precision] = {"seconds": time.perf_counter() - start, "step_seconds": step,
                                  "held_out_pass_seconds": held_out_pass,
                                  "curve": seismic_survey.adaptation_curve(run)}
            print(precision, results[precision]["step_seconds"], results[precision]["curve"], flush=True)
    env = {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "argv": sys.argv[1:], "shots": args.shots}
    data = {"environment": env, "steps": args.steps, "eval_every": args.eval_every, "results": results}
    out = Path(args.out)
    atomic_write_json(out / "adapt_precision.json", data)
    write_markdown(data, out / "adapt_precision.md")
    return 0


def share(pass_seconds: float, step_seconds: float, every: int) -> float:
    """The share of an adaptation's time spent on held-out scores when one comes every `every` steps."""
    return pass_seconds / (pass_seconds + every * step_seconds)


def write_markdown(data: dict, path: Path) -> None:
    env, res = data["environment"], data["results"]
    fp, bf = res["fp32"], res["bf16"]
    rows = ["| step | held-out SNR fp32, dB | bf16, dB | bf16 - fp32 |", "|---:|---:|---:|---:|"]
    for a, b in zip(fp["curve"], bf["curve"]):
        rows.append(f"| {a['step']} | {a['snr']:.3f} | {b['snr']:.3f} | {b['snr'] - a['snr']:+.3f} |")
    atomic_write_text(path, f"""## Survey adaptation: bf16 against fp32 training steps

`benchmarks/adapt_precision.py`: the 25 m survey of `benchmarks/seismic_survey.py` ({env['shots']} shots), adapted
from the shipped `traces-seismic-unet` for {data['steps']} steps in each precision (same seed and crops; held-out
scores in fp32 every {data['eval_every']} steps). {env['threads']} torch thread(s) on {env['cpu']}, torch
{env['torch']}.

Seconds per training step: fp32 {fp['step_seconds']:.3f}, bf16 {bf['step_seconds']:.3f} (speed-up
{fp['step_seconds'] / bf['step_seconds']:.2f}x); whole runs {fp['seconds']:.0f} s and {bf['seconds']:.0f} s. One
held-out score (a pass over the whole survey, fp32 in both) took {fp['held_out_pass_seconds']:.1f} s, the time of
{fp['held_out_pass_seconds'] / bf['step_seconds']:.0f} bf16 steps: at `--eval-every` 50 scoring would take
{share(fp['held_out_pass_seconds'], bf['step_seconds'], 50):.0%} of the run, at 400 {share(fp['held_out_pass_seconds'], bf['step_seconds'], 400):.0%}.

{chr(10).join(rows)}
""")
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
