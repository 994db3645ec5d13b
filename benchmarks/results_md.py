"""Assemble docs/RESULTS.md from the sections the benchmark scripts write into docs/results/*.md.

    .venv/bin/python benchmarks/results_md.py
"""

from pathlib import Path

from ganrecon.io_utils import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["traces", "superres", "translate", "latent", "denoise", "memory", "fault"]

HEADER = """# Results

Every number here is written by a script in `benchmarks/` (named in each section) from models trained by
`benchmarks/train_*.sh` with the YAML files in `configs/`. Rerun a script to regenerate its section, then
`benchmarks/results_md.py` to rebuild this page. Timings are wall clock on the machine named in each section;
compare methods within one table, not across machines.
"""

if __name__ == "__main__":
    sections = sorted((ROOT / "docs" / "results").glob("*.md"),
                      key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else len(ORDER), p.stem))
    text = HEADER + "\n" + "\n".join(p.read_text().rstrip() + "\n" for p in sections)
    atomic_write_text(ROOT / "docs" / "RESULTS.md", text)
    print(f"docs/RESULTS.md from {', '.join(p.name for p in sections)}")
