"""`make demo`'s engine on one tiny case: tables, figures, JSON and the HTML page, adaptation included."""

import json

from rich.console import Console

from ganrecon.demo import DemoCase, run_demo


def test_demo_case_with_adaptation(tmp_path):
    case = DemoCase("field", "tiny field-like gather", "seismic:preset=field,n=2,size=64x32", "columns:random:0.5",
                    ("traces-seismic-unet", "not-shipped-yet"), limit=1, adapt_seconds=1.0)
    run_demo(tmp_path / "demo", Console(file=open(tmp_path / "log.txt", "w")), report=tmp_path / "html",
             cases=(case,))
    methods = json.loads((tmp_path / "demo" / "field.json").read_text())["methods"]
    assert {"traces-seismic-unet", "traces-seismic-unet+adapt", "zero-fill"} <= set(methods)
    readme = (tmp_path / "demo" / "README.md").read_text()
    assert "not-shipped-yet" in readme and (tmp_path / "demo" / "field.png").stat().st_size > 0
    assert (tmp_path / "html" / "index.html").stat().st_size > 0
