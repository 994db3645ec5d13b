"""The README's screenshots of the offline report and the web app (docs/figures/report.png, app.png), taken in
Debian's headless Chromium with Playwright, on synthetic gathers and the shipped seismic model.

    .venv/bin/python benchmarks/screenshots.py [--out docs/figures]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_browser import CHROMIUM, LAUNCH_ARGS  # noqa: E402  (one list of browser flags for tests and docs)

from ganrecon.data import load_dataset  # noqa: E402
from ganrecon.evaluation import evaluate  # noqa: E402
from ganrecon.html_report import evaluation_report  # noqa: E402
from ganrecon.inference import load_model  # noqa: E402
from ganrecon.webapp import create_app  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        tmp = Path(tmp)
        spec, degrade = "seismic:n=32,size=128x64", "columns:random:0.5"
        evaluation = evaluate(spec, degrade, models=[load_model("traces-seismic-unet")], limit=4)
        page_path = evaluation_report(evaluation, tmp / "report", f"{spec} | {degrade} | 4 gathers",
                                      {"command": "eval", "data": spec, "degrade": degrade, "limit": 4}, rows=2)
        gather = load_dataset(spec, split="test").images[1, 0].numpy() * 250.0
        buf = io.BytesIO()
        np.save(buf, gather.astype(np.float32))
        (tmp / "shot.npy").write_bytes(buf.getvalue())

        server = make_server("127.0.0.1", 0, create_app(), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        context = p.chromium.launch_persistent_context(str(tmp / "profile"), executable_path=str(CHROMIUM),
                                                       args=LAUNCH_ARGS, headless=True,
                                                       viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        page.goto(page_path.as_uri())
        page.screenshot(path=str(out / "report.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 1000})
        page.goto(f"http://127.0.0.1:{server.server_port}/")
        page.set_input_files("#file", str(tmp / "shot.npy"))
        page.select_option("#task", "traces")
        page.select_option("#model", "traces-seismic-unet")
        page.fill("#degrade", degrade)
        page.click("#run")
        page.wait_for_selector("#result, .error-message", timeout=120_000)
        if page.locator(".error-message").count():
            raise SystemExit(page.locator(".error-message").inner_text())
        page.check("input[name=view][value=rwb]")
        page.screenshot(path=str(out / "app.png"), full_page=True)
        context.close()
        server.shutdown()
    print(f"wrote {out / 'report.png'} and {out / 'app.png'}")


if __name__ == "__main__":
    main()
