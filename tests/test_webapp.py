"""The web app's refusals and its happy path, through Flask's test client (the browser test drives the page)."""

import io
import re

import numpy as np
import pytest
from conftest import smooth_images

pytest.importorskip("flask", reason="the web app needs the 'web' extra (flask)")

from ganrecon.webapp import create_app, sniff  # noqa: E402

MODEL = "traces-seismic-unet"


def gather_npy(traces: int = 16, samples: int = 32, seed: int = 0) -> bytes:
    from ganrecon.data import load_dataset

    gather = load_dataset(f"seismic:n=4,size={samples}x{traces}", split="test", seed=seed).images[0, 0].numpy()
    buf = io.BytesIO()
    np.save(buf, (gather * 5.0).astype(np.float32))   # any amplitude: the app normalises and restores it
    return buf.getvalue()


def digit_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((smooth_images(1, 28, 28, seed=2)[0] * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def client():
    return create_app(max_upload_bytes=256 * 1024).test_client()


def post(client, payload: bytes, name: str = "gather.npy", **form):
    fields = {"task": "traces", "model": MODEL, "degrade": "columns:random:0.5", "seed": "0", **form}
    return client.post("/", data={"file": (io.BytesIO(payload), name), **fields}, content_type="multipart/form-data")


def message(response) -> str:
    found = re.findall(r'role="alert">([^<]*)<', response.get_data(as_text=True))
    return found[0] if found else ""


def test_page_loads_with_the_shipped_models(client):
    page = client.get("/").get_data(as_text=True)
    assert MODEL in page and 'enctype="multipart/form-data"' in page


def test_gather_is_reconstructed_scored_and_downloaded_in_its_format(client):
    payload = gather_npy()
    response = post(client, payload)
    assert response.status_code == 200, message(response)
    page = response.get_data(as_text=True)
    assert '<table class="metrics">' in page and 'data-value="fk"' in page and f'data-value="{MODEL}"' in page
    assert f'data-value="{MODEL}:raw"' in page and "guard (choose" in page  # guarded and raw, the decision said
    token = re.search(r'href="/download/([^"]+)"', page).group(1)
    download = client.get(f"/download/{token}")
    assert download.status_code == 200
    assert "gather-traces-seismic-unet.npy" in download.headers["Content-Disposition"]
    out, given = np.load(io.BytesIO(download.data)), np.load(io.BytesIO(payload))
    assert out.shape == given.shape and out.dtype == given.dtype
    assert 0.5 < np.abs(out).max() / np.abs(given).max() < 2   # the amplitude scale is restored


def test_file_with_dead_traces_is_filled_without_scores(client):
    gather = np.load(io.BytesIO(gather_npy()))
    gather[:, ::3] = 0
    buf = io.BytesIO()
    np.save(buf, gather)
    response = post(client, buf.getvalue(), degrade="")
    assert response.status_code == 200, message(response)
    page = response.get_data(as_text=True)
    assert "all-zero traces" in page and '<table class="metrics">' not in page and "/download/" in page
    assert "guard (choose" in page


def test_oversized_upload_is_refused_with_413(client):
    response = post(client, b"\x93NUMPY" + bytes(300 * 1024))
    assert response.status_code == 413
    assert "larger than the limit" in message(response)


@pytest.mark.parametrize("payload, name", [
    (b"just some text, not an image" * 10, "gather.npy"),     # the name says NPY, the content does not
    (b"MZ\x90\x00" + bytes(100), "gather.png"),
    (b"", "empty.npy"),
])
def test_wrong_type_is_refused_by_content(client, payload, name):
    response = post(client, payload, name=name)
    assert response.status_code == 400
    assert "read from its content" in message(response)


def test_damaged_file_of_a_known_type_is_a_message_not_a_traceback(client):
    response = post(client, b"\x89PNG\r\n\x1a\n" + b"garbage" * 20, name="broken.png")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "could not be read" in message(response) and "Traceback" not in page


@pytest.mark.parametrize("name", ["../../escaped.npy", "/tmp/abs/escaped.npy", "..\\..\\escaped.npy",
                                  "sub/dir/../../escaped.npy"])
def test_path_like_names_never_become_paths(client, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    response = post(client, digit_png(), name=name, model="traces-mnist-unet", degrade="columns:regular:2")
    assert response.status_code == 200, message(response)
    download = re.search(r'download="([^"]+)"', response.get_data(as_text=True)).group(1)
    assert download.endswith("escaped-traces-mnist-unet.png")   # the type comes from the content, not the name
    assert "/" not in download and "\\" not in download and ".." not in download
    assert list(tmp_path.rglob("*")) == [] and not (tmp_path.parent / "escaped.npy").exists()


@pytest.mark.parametrize("form, text", [
    ({"model": "no-such-model"}, "Unknown model"),
    ({"model": "../pretrained/traces-seismic-unet"}, "Unknown model"),
    ({"task": "denoise"}, "is for the traces task"),
    ({"degrade": "wobble:3"}, "degradation"),
    ({"seed": "x"}, "seed must be an integer"),
])
def test_bad_choices_are_one_sentence_on_the_page(client, form, text):
    response = post(client, gather_npy(), **form)
    assert response.status_code == 400
    assert text in message(response)


def test_unknown_download_is_404_and_missing_file_is_a_message(client):
    assert client.get("/download/nope").status_code == 404
    response = client.post("/", data={"task": "traces", "model": MODEL}, content_type="multipart/form-data")
    assert response.status_code == 400 and "Choose a file" in message(response)


def test_sniff_knows_the_types_by_their_first_bytes():
    segy = bytearray(3700)
    segy[3220:3222] = (64).to_bytes(2, "big")
    segy[3224:3226] = (5).to_bytes(2, "big")
    assert [sniff(b) for b in (b"\x89PNG\r\n\x1a\nxx", b"\xff\xd8\xff\xe0", b"II*\x00", b"MM\x00*",
                               b"\x93NUMPY\x01", bytes(segy), bytes(3700))] == \
        ["png", "jpeg", "tiff", "tiff", "npy", "segy", None]


def test_serve_binds_to_loopback_by_default():
    import inspect

    from ganrecon.cli import serve

    assert inspect.signature(serve).parameters["host"].default.default == "127.0.0.1"
