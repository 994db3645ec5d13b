"""benchmarks/seismic_field.py's model choice: a challenger replaces the shipped model only by a clear margin."""

from conftest import load_benchmark

bench = load_benchmark("seismic_field")


def test_a_challenger_replaces_the_shipped_model_only_by_the_margin():
    margin = bench.SHIP_MARGIN_DB
    choice = {"gan-unet": {"a": 15.0, "b": 16.0}, "close": {"a": 15.0 + margin, "b": 16.0 - 0.01}}
    assert bench.model_to_ship(choice) == "gan-unet"           # mean ahead by less than the margin
    choice["clear"] = {"a": 15.0 + 2 * margin, "b": 16.0 + 0.01}
    assert bench.model_to_ship(choice) == "clear"
    assert "To ship: **clear**" in bench.choice_table(choice)
