"""`ganrecon serve`: a local web page to try the shipped models on your own file, next to the conventional
methods, and download the result in the file's own format.

Flask (small, well kept, and its development server is all a single user on loopback needs). The page, CSS and
JavaScript ship inside the package (ganrecon/web) and are the same pieces as the offline report's. What an upload
may do is narrow on purpose:

* the server binds to 127.0.0.1 unless told otherwise;
* a request body over the limit is refused with 413 before it is read;
* the type is decided by the file's first bytes (PNG, JPEG, TIFF, NPY, SEG-Y), never by its name, and the
  upload's name never becomes a path: the bytes go to a fresh temporary folder under a fixed name;
* only shipped models can be chosen, by name;
* anything wrong with the input is one sentence on the page (status 400), and an unexpected failure is a
  generic message (status 500) with the traceback only in the server's log, never in the page.
"""

from __future__ import annotations

import collections
import io
import logging
import re
import secrets
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganrecon.errors import GanreconError
from ganrecon.specs import check_seed

WEB_DIR = Path(__file__).parent / "web"
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
MAX_IMAGES = 8                      # a stack larger than this belongs to `ganrecon reconstruct`
MAX_PIXELS = 1024 * 1024            # per image: FK and the baselines stay interactive below this
KEEP_RESULTS = 16                   # downloads kept in memory, oldest dropped first
FILE_MISSING = ""                   # the degradation choice "missing traces are the all-zero columns of the file"
SUGGESTED_DEGRADATIONS = ("columns:random:0.5", "columns:regular:2", "columns:gap:4", "keep-first:400+gauss:0.05",
                          "pixels:random:0.5")
SUFFIX = {"png": ".png", "jpeg": ".jpg", "tiff": ".tif", "npy": ".npy", "segy": ".sgy"}
MIMETYPE = {"png": "image/png", "jpeg": "image/jpeg", "tiff": "image/tiff", "npy": "application/octet-stream",
            "segy": "application/octet-stream"}

log = logging.getLogger(__name__)


def sniff(head: bytes) -> str | None:
    """The file type from its content: magic numbers, and for SEG-Y (which has none) a plausible binary header
    in either byte order (3600-byte headers, a known sample format code, a positive number of samples per trace)."""
    from ganrecon.data.segy import segy_endian

    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if len(head) > 3600 and segy_endian(head) is not None:
        return "segy"
    return None


@dataclass
class Outcome:
    """What the page shows after a run."""

    table: dict | None
    rows: list
    wipes: list
    download: str
    download_name: str
    notes: list[str]


class _Downloads:
    """The last few outputs, by an unguessable token; nothing is written to disk."""

    def __init__(self, keep: int = KEEP_RESULTS):
        self._items: collections.OrderedDict[str, tuple[bytes, str, str]] = collections.OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()

    def add(self, payload: bytes, name: str, mimetype: str) -> str:
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._items[token] = (payload, name, mimetype)
            while len(self._items) > self._keep:
                self._items.popitem(last=False)
        return token

    def get(self, token: str):
        with self._lock:
            return self._items.get(token)


def model_choices() -> list[tuple[str, str]]:
    """(task, name) of every shipped model, read from the descriptions without loading weights."""
    from ganrecon.shipped import shipped_meta

    return [(meta.get("task", "?"), name) for name, meta in shipped_meta().items()]


def model_fits() -> list[tuple[str, str, bool]]:
    """(task, name, trained on signed data) of every shipped model: what `fit.default_model` chooses from."""
    from ganrecon.shipped import shipped_meta

    return [(meta.get("task", "?"), name, float((meta.get("value_range") or [0.0])[0]) < 0)
            for name, meta in shipped_meta().items()]


def _download_name(filename: str | None, model: str, kind: str) -> str:
    """A name for the download: the last component of the upload's name, without its suffix, reduced to letters,
    digits, - and _ (no dots, no separators), then the model's name and the suffix of the detected type."""
    last = re.split(r"[/\\]", filename or "")[-1]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", last.rsplit(".", 1)[0]).strip("_")[:60] or "upload"
    return f"{stem}-{model}{SUFFIX[kind]}"


class Reconstructor:
    """Runs one upload: read by content, degrade (or take the file's dead traces), model + baselines, write back."""

    def __init__(self):
        self._models: dict = {}
        self._lock = threading.Lock()   # two cores: one reconstruction at a time

    def model(self, name: str, task: str):
        """A shipped model by name, checked against the chosen task and kept loaded."""
        from ganrecon.inference import load_model

        tasks = dict((n, t) for t, n in model_choices())
        if name not in tasks:
            raise GanreconError(f"Unknown model {name!r}; choose one of {', '.join(tasks) or 'none'}.")
        if tasks[name] != task:
            raise GanreconError(f"The model {name} is for the {tasks[name]} task, not {task}.")
        if name not in self._models:
            self._models[name] = load_model(name)
        return self._models[name]

    def run(self, payload: bytes, filename: str | None, task: str, model_name: str, degrade: str,
            seed: int) -> tuple[Outcome, bytes, str, str]:
        from ganrecon.files import read_file, write_like
        from ganrecon.fit import default_model

        kind = sniff(payload[:4096])
        if kind is None:
            raise GanreconError("The file is not PNG, JPEG, TIFF, NPY or SEG-Y (the type is read from its content, "
                                "not its name).")
        with self._lock, tempfile.TemporaryDirectory(prefix="ganrecon-upload-") as tmp:
            model = self.model(model_name, task) if model_name else None
            path = Path(tmp) / f"upload{SUFFIX[kind]}"   # a fixed name: the upload's name never becomes a path
            path.write_bytes(payload)
            data = read_file(path)
            n, c, h, w = data.images.shape
            if n > MAX_IMAGES or h * w > MAX_PIXELS:
                raise GanreconError(f"The file holds {n} image(s) of {h} x {w}; the app takes up to {MAX_IMAGES} "
                                    f"images of at most {MAX_PIXELS} samples each (use `ganrecon reconstruct`).")
            model = model or self.model(default_model(task, data.signed, model_fits()), task)
            images, scale = self._model_input(data, model)
            if int(model.meta.get("frames", 1)) > 1 and degrade == FILE_MISSING:  # the upload is the burst itself
                from dataclasses import replace

                from ganrecon.reconstruction import burst_of

                images, scale, c = burst_of(images, model, "the file"), scale[:1], 1
                data = replace(data, shape=(h, w))  # one image out
            outcome, estimate = (self._with_truth(images, model, degrade, seed) if degrade != FILE_MISSING
                                 else self._as_given(images, model))
            if c > 1 and model.meta.get("channels") == 1:
                from ganrecon.colour import describe

                outcome.notes.append(describe(model.name, model.meta.get("task"), c, data.signed))
            out = estimate * scale
            if out.shape[1] != c:
                out = out.mean(axis=1, keepdims=True) if c == 1 else np.repeat(out[:, :1], c, axis=1)
            out_path = write_like(data, out, Path(tmp) / f"output{SUFFIX[kind]}")
            result = out_path.read_bytes()
        return outcome, result, _download_name(filename, model.name, kind), MIMETYPE[kind]

    @staticmethod
    def _model_input(data, model) -> tuple[np.ndarray, np.ndarray]:
        """The file's images in the model's value range (a grey model takes colour as it is: colour in, colour
        out), and the per-image scale to undo after."""
        from ganrecon.data.convert import normalise_signed

        images = data.images
        channels = model.meta["channels"]
        if images.shape[1] != channels and channels != 1:
            images = np.repeat(images[:, :1], channels, axis=1)
        signed_model = model.value_range[0] < 0
        if data.signed and not signed_model:
            raise GanreconError(f"The file holds signed amplitudes, but {model.name} works on images in [0, 1]; "
                                "choose a seismic model.")
        if signed_model:
            images, scale = normalise_signed(images)
            return images, scale.reshape(-1, 1, 1, 1)
        return images, np.ones((len(images), 1, 1, 1), np.float32)

    @staticmethod
    def _with_truth(images: np.ndarray, model, degrade: str, seed: int):
        """The upload is the ground truth: degrade it, run model and baselines, score them all."""
        from ganrecon.data import ImageSet
        from ganrecon.evaluation import evaluate
        from ganrecon.guard import describe
        from ganrecon.html_report import example_rows, metrics_table, model_wipes
        from ganrecon.report import plural

        image_set = ImageSet(torch.from_numpy(np.ascontiguousarray(images)), tuple(model.value_range), "upload")
        evaluation = evaluate(image_set, degrade, models=[model], seed=seed, task=model.meta.get("task"))
        shown = ", the first one shown" if len(images) > 1 else ""
        outcome = Outcome(metrics_table(evaluation.results["methods"], evaluation.model_names),
                          example_rows(evaluation, rows=1), model_wipes(evaluation), "", "",
                          [f"The upload is taken as the ground truth and degraded with {degrade} (seed {seed}); "
                           f"{plural(len(images), 'image')}{shown}.",
                           describe(evaluation.results["guard"][model.name], model.name)])
        return outcome, evaluation.estimates[model.name].numpy()

    @staticmethod
    def _as_given(images: np.ndarray, model):
        """No degradation chosen: the upload is the degraded input itself (a noisy photograph, a low-resolution
        slice, a gather with dead traces) and is restored as it is, next to the conventional methods for what
        the model undoes; there is no ground truth, so there are no scores."""
        from ganrecon.display import symmetric_clip
        from ganrecon.guard import GuardedModel
        from ganrecon.html_report import Wipe, panel
        from ganrecon.report import same_as_observed
        from ganrecon.scoring import baseline_methods

        observed = torch.from_numpy(np.ascontiguousarray(images))
        mask, families, note = _given_mask(images, model)
        observed = observed * mask
        value_range = tuple(model.value_range)
        methods = {} if families is None else baseline_methods(families, value_range, task=model.meta.get("task"))
        estimates = {name: fn(observed, mask) for name, fn in methods.items()}
        guarded = GuardedModel(model, families, mode="choose")
        estimates[model.name] = guarded(observed, mask)
        signed = value_range[0] < 0
        shown = observed[:, :estimates[model.name].shape[1]]  # of a burst, its first frame
        clip = symmetric_clip(shown[0]) if signed else None
        twin = same_as_observed(shown[:1], {k: v[:1] for k, v in estimates.items()})
        row = ([] if twin else [panel("upload", shown[0], signed=signed, clip=clip)]) + \
              [panel(f"{name} (= upload)" if name == twin else name, est[0], signed=signed, clip=clip)
               for name, est in estimates.items()]
        before = torch.nn.functional.interpolate(shown[:1], size=estimates[model.name].shape[-2:], mode="nearest")
        wipe = Wipe(model.name, panel("upload", before[0], signed=signed, clip=clip), row[-1])
        outcome = Outcome(None, [row], [wipe], "", "", [note + " Without a ground truth there are no scores: choose "
                                                        "a degradation to get them.", guarded.describe()])
        return outcome, estimates[model.name].numpy()


def _given_mask(images: np.ndarray, model) -> tuple[torch.Tensor, object, str]:
    """(mask, baseline families, a note) for an upload restored as it is: for models that fill missing entries
    its all-zero traces are the missing ones; for the others everything is observed, and the conventional
    methods are those of the degradation the model was trained to undo."""
    from ganrecon.degrade import parse_degradation
    from ganrecon.files import dead_trace_mask
    from ganrecon.report import plural

    if model.meta.get("task") in ("traces", "latent"):
        mask = torch.from_numpy(dead_trace_mask(images))
        if bool(mask.all()):
            raise GanreconError("No trace of the file is all zero, so nothing is missing; choose a degradation to "
                                "simulate missing traces and see scores.")
        missing = int((mask[0, 0, 0] == 0).sum())
        return mask, {"mask"}, (f"The all-zero traces of the file ({missing} of {mask.shape[-1]}) are taken as "
                                "missing.")
    trained = model.meta.get("degrade") or []
    trained = trained if isinstance(trained, list) else [trained]
    try:
        families = parse_degradation(str(trained[0])) if trained else None
    except GanreconError:
        families = None
    task = model.meta.get("task", "?")
    return torch.ones(images.shape), families, (f"The upload is restored as it is by {model.name} ({task}); "
                                                f"{plural(len(images), 'image')}, the first one shown.")


def create_app(max_upload_bytes: int = MAX_UPLOAD_BYTES):
    from flask import Flask, abort, render_template, request, send_file
    from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

    app = Flask(__name__, template_folder=str(WEB_DIR / "templates"), static_folder=str(WEB_DIR / "static"))
    app.config["MAX_CONTENT_LENGTH"] = max_upload_bytes
    downloads, reconstructor = _Downloads(), Reconstructor()
    choices = model_choices()
    from ganrecon.tasks import TASKS

    tasks = [t for t in TASKS if any(t == task for task, _ in choices)]   # in the README's order: traces first

    def page(status: int = 200, **context):
        form = {"task": tasks[0] if tasks else "", "model": "", "degrade": SUGGESTED_DEGRADATIONS[0], "seed": 0}
        form.update(context.pop("form", {}))
        return render_template("app.html", tasks=tasks, models=choices, degradations=SUGGESTED_DEGRADATIONS,
                               form=form, limit_mb=max_upload_bytes / 2**20, max_images=MAX_IMAGES,
                               **context), status

    @app.get("/")
    def index():
        return page()

    @app.post("/")
    def run():
        form = {key: request.form.get(key, "").strip() for key in ("task", "model", "degrade", "seed")}
        upload = request.files.get("file")
        try:
            if upload is None or not upload.filename:
                raise GanreconError("Choose a file to upload.")
            try:
                seed = int(form["seed"] or 0)
            except ValueError:
                raise GanreconError(f"The seed must be an integer, got {form['seed']!r}.") from None
            seed = check_seed(seed)
            outcome, payload, name, mimetype = reconstructor.run(upload.read(), upload.filename, form["task"],
                                                                 form["model"], form["degrade"], seed)
        except GanreconError as exc:
            return page(400, form=form, error=str(exc))
        outcome.download, outcome.download_name = downloads.add(payload, name, mimetype), name
        return page(form=form, outcome=outcome)

    @app.get("/download/<token>")
    def download(token: str):
        item = downloads.get(token)
        if item is None:
            abort(404)
        payload, name, mimetype = item
        return send_file(io.BytesIO(payload), mimetype=mimetype, as_attachment=True, download_name=name)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_exc):
        return page(413, error=f"The upload is larger than the limit of {max_upload_bytes / 2**20:.0f} MB.")

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return page(exc.code or 500, error=f"{exc.code} {exc.name}.")

    @app.errorhandler(Exception)
    def unexpected(exc):
        log.exception("unexpected failure")   # the traceback goes to the server's log, never to the page
        return page(500, error=f"The file could not be processed ({type(exc).__name__}); see the server's log.")

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, max_upload_mb: float = 16, console=None) -> None:
    """Run the app until Ctrl-C (Werkzeug's server: fine for one person on this machine)."""
    from werkzeug.serving import run_simple

    if host not in ("127.0.0.1", "localhost", "::1") and console is not None:
        console.print(f"warning: serving on {host}: anyone who can reach this machine can upload files and use "
                      "its CPU", style="yellow")
    if console is not None:
        console.print(f"ganrecon app on http://{'[' + host + ']' if ':' in host else host}:{port}/ (Ctrl-C stops)")
    run_simple(host, port, create_app(int(max_upload_mb * 2**20)), threaded=True)
