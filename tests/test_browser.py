"""End to end in a real browser (Debian's headless Chromium driven by Playwright): the web app from upload to
download, and the offline report opened from disk. Screenshots go to test-artifacts/ (gitignored)."""

import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import segyio

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                "(apt-get install chromium chromium-driver; .ci/run does this)")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(profile, executable_path=str(CHROMIUM), args=LAUNCH_ARGS,
                                                       headless=True, accept_downloads=True,
                                                       viewport={"width": 1280, "height": 900})
        yield context
        context.close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    page.console_errors = []
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    yield page
    page.close()


@pytest.fixture(scope="module")
def server():
    from werkzeug.serving import make_server

    from ganrecon.webapp import create_app

    srv = make_server("127.0.0.1", 0, create_app(), threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(5)


def unloaded_images(page) -> int:
    return page.evaluate("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length")


def small_segy(path: Path) -> np.ndarray:
    from ganrecon.data import load_dataset

    gather = load_dataset("seismic:n=4,size=32x16", split="test").images[0, 0].numpy() * 1000  # time x traces
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, list(range(gather.shape[0])), gather.shape[1]
    with segyio.create(str(path), spec) as f:
        for i in range(gather.shape[1]):
            f.header[i] = {segyio.TraceField.offset: 100 + 25 * i}
            f.trace[i] = np.ascontiguousarray(gather[:, i], dtype=np.float32)
    return gather


def test_app_uploads_a_gather_runs_and_downloads_segy(page, server, tmp_path):
    gather = small_segy(tmp_path / "shot.sgy")
    page.goto(server)
    page.set_input_files("#file", str(tmp_path / "shot.sgy"))
    page.select_option("#task", "traces")
    page.select_option("#model", "traces-seismic-unet")
    page.fill("#degrade", "columns:random:0.5")
    page.click("#run")
    page.wait_for_selector("#result", timeout=60_000)
    assert page.locator(".error-message").count() == 0
    rows = page.locator("#result table.metrics tbody tr")
    names = [rows.nth(i).locator("th").inner_text() for i in range(rows.count())]
    assert "fk" in names and any(n.startswith("traces-seismic-unet") for n in names)
    page.click("#result table.metrics thead th[data-col=snr]")          # sort by SNR, best first
    first = page.locator("#result table.metrics tbody tr").first
    assert "best" in (first.locator("td").nth(5).get_attribute("class") or "")
    assert page.locator("#result img.view-grey").count() > 0 and unloaded_images(page) == 0
    page.check("input[name=view][value=rwb]")
    assert page.locator("#result img.view-rwb").first.is_visible()
    page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#download")
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.name == "shot-traces-seismic-unet.sgy"
    with segyio.open(str(saved), ignore_geometry=True) as f:
        out = segyio.tools.collect(f.trace[:]).T
        assert [f.header[i][segyio.TraceField.offset] for i in range(f.tracecount)] == \
            [100 + 25 * i for i in range(gather.shape[1])]
    assert out.shape == gather.shape and np.isfinite(out).all()
    assert page.console_errors == []


def test_app_shows_a_bad_file_as_a_message(page, server, tmp_path):
    (tmp_path / "notes.sgy").write_text("not a gather at all\n" * 20)
    page.goto(server)
    page.set_input_files("#file", str(tmp_path / "notes.sgy"))
    page.click("#run")
    assert "read from its content" in page.locator(".error-message").inner_text()
    assert "Traceback" not in page.content()


def test_report_opens_offline_with_every_image_loaded(page, tmp_path):
    from ganrecon.evaluation import evaluate
    from ganrecon.html_report import evaluation_report
    from ganrecon.inference import load_model

    evaluation = evaluate("seismic:n=8,size=32x16", "columns:regular:2", models=[load_model("traces-seismic-unet")],
                          limit=2, baselines=["zero-fill", "linear"])
    path = evaluation_report(evaluation, tmp_path / "report", "seismic test", {"data": "seismic"}, wiggle=True)
    page.route("http*://**", lambda route: route.abort())   # offline: any request to a network would fail
    page.goto(path.as_uri())
    assert page.locator("img").count() > 10 and unloaded_images(page) == 0
    page.check("input[name=view][value=wiggle]")
    assert page.locator("img.view-wiggle").first.is_visible()
    page.locator(".wipe-range").first.fill("20")
    assert "80%" in page.locator(".wipe-before").first.get_attribute("style")
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert page.console_errors == []
