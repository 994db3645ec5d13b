"""Assemble docs/RESULTS.md from the sections the benchmark scripts write into docs/results/*.md.

    .venv/bin/python benchmarks/results_md.py
"""

import json
from pathlib import Path

from ganrecon.io_utils import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["traces", "seismic_regular_gathers", "seismic_alias_slack", "seismic_regular_pylops", "seismic_field", "seismic_survey", "adapt_precision", "adapt_pool", "seismic_methods", "seismic_spacing", "gather_inference", "seismic_symmetry", "superres", "translate", "phase_screen",
         "burst", "synthesis", "latent", "latent_estimates", "denoise", "colour", "guard", "guard_evidence", "guard_regular_slack", "guard_hedge_weights", "guard_hedge_weights_everywhere", "learning_curves", "recipe_probe", "memory", "throughput", "precision",
         "layer_times_superres", "layer_times_seismic", "fault"]

HEADER = """# Results

Every number here is written by a script in `benchmarks/` (named in each section) from models trained by
`benchmarks/train_*.sh` with the YAML files in `configs/`. Rerun a script to regenerate its section, then
`benchmarks/results_md.py` to rebuild this page. Timings are wall clock on the machine named in each section;
compare methods within one table, not across machines.
"""



def fault_section(path: Path) -> str:
    """The fault-injection figure (benchmarks/fault_injection.py writes the JSON); details in docs/RELIABILITY.md."""
    d = json.loads(path.read_text())
    return (f"## Fault injection: training killed and resumed\n\nProduced by `benchmarks/fault_injection.py`: "
            f"{d['runs']} training processes of {d['steps_per_run']} steps (checkpoint every {d['checkpoint_every']}), "
            f"SIGKILL at {len(d['kill_points'])} random steps ({', '.join(map(str, d['kill_points']))}) and "
            f"{len(d['mid_write_kills'])} times inside a checkpoint write, plus SIGINT and SIGTERM; each resumed with "
            f"`--resume` and compared with an uninterrupted run of the same seed. Mismatches: {d['mismatches']}; at "
            f"most {d['max_steps_redone']} steps recomputed. The full table is in `docs/RELIABILITY.md`.\n")


if __name__ == "__main__":
    fault = ROOT / "docs" / "results" / "fault_injection.json"
    if fault.is_file():
        atomic_write_text(fault.with_name("fault.md"), fault_section(fault))
    sections = sorted((ROOT / "docs" / "results").glob("*.md"),
                      key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else len(ORDER), p.stem))
    # sections link figures relative to docs/results/; this page lives in docs/
    text = HEADER + "\n" + "\n".join(p.read_text().rstrip().replace("](../figures/", "](figures/") + "\n"
                                      for p in sections)
    atomic_write_text(ROOT / "docs" / "RESULTS.md", text)
    print(f"docs/RESULTS.md from {', '.join(p.name for p in sections)}")
