"""benchmarks/guard_evidence.py's choice of a guard constant and its memo of model and baseline runs."""

import math

import torch
from conftest import load_benchmark

bench = load_benchmark("guard_evidence")
THRESHOLDS = bench.CONSTANTS["OWN_EVIDENCE"]["values"]


def rows(means, below):
    return [{"threshold": t, "mean_margin_db": m, "below_bar": b} for t, m, b in zip(THRESHOLDS, means, below)]


def test_the_choice_puts_the_promise_before_the_mean_gain():
    n = len(THRESHOLDS)
    flat = {"rows": rows([1.0] * n, [0] * n)}
    better_mean_late = {"rows": rows([0.5] * (n - 1) + [0.9], [1] * (n - 1) + [0])}
    assert bench.choose([flat, better_mean_late]) == THRESHOLDS[-1]   # the only one without a miss
    ties = {"rows": rows([1.2, 1.2] + [1.0] * (n - 2), [0] * n)}
    assert bench.choose([ties]) == math.inf and bench.label(math.inf).startswith("never")
    rounding = {"rows": rows([1.041, 1.041, 1.042] + [1.0] * (n - 3), [0] * n)}
    assert bench.choose([rounding]) == math.inf                           # 0.001 dB is no reason to change
    gain = {"rows": rows([1.04, 1.04, 1.06] + [1.0] * (n - 3), [0] * n)}
    assert bench.choose([gain]) == THRESHOLDS[2]


def test_the_memo_runs_each_distinct_input_once():
    calls = []
    memo = bench.Memo(lambda o, m: calls.append(1) or o * 2)
    x, mask = torch.ones(1, 1, 4, 4), torch.ones(1, 1, 4, 4)
    assert torch.equal(memo(x, mask), x * 2) and torch.equal(memo(x.clone(), mask), x * 2)
    memo(x + 1, mask)
    assert len(calls) == 2


def test_each_constant_keeps_its_old_rule_unless_another_value_saves_an_image():
    values = bench.CONSTANTS["REGULAR_SLACK_DB"]["values"]
    n = len(values)
    one_saved = {"rows": [{"mean_margin_db": 1.0, "below_bar": int(i == 0)} for i in range(n)]}
    assert bench.choose([one_saved], "REGULAR_SLACK_DB") == values[1]
    same = {"rows": [{"mean_margin_db": 1.0, "below_bar": 0} for _ in range(n)]}
    assert bench.choose([same], "REGULAR_SLACK_DB") == -math.inf
    assert bench.label(-math.inf, "REGULAR_SLACK_DB") == "off" and bench.label(0.25, "REGULAR_SLACK_DB") == "0.25"


def test_hedge_weights_are_tuned_as_sets_of_candidates_and_shown_as_their_items():
    values = bench.CONSTANTS["HEDGE_WEIGHTS"]["values"]
    assert values[0] == (0.5,)  # the rule before it: the mean alone
    assert bench.label((0.5, 0.75), "HEDGE_WEIGHTS") == "0.5, 0.75" == bench.label([0.5, 0.75], "HEDGE_WEIGHTS")
    one_saved = {"rows": [{"mean_margin_db": 1.0, "below_bar": int(i == 0)} for i in range(len(values))]}
    assert bench.choose([one_saved], "HEDGE_WEIGHTS") == bench.guard.HEDGE_WEIGHTS  # no miss either: it stays
    gain = {"rows": [{"mean_margin_db": 1.0 + 0.02 * (i == 1), "below_bar": 0} for i in range(len(values))]}
    assert bench.choose([gain], "HEDGE_WEIGHTS") == values[1]


def test_a_tie_keeps_the_guards_current_value_not_the_first_one_tried(monkeypatch):
    values = bench.CONSTANTS["HEDGE_WEIGHTS"]["values"]
    monkeypatch.setattr(bench.guard, "HEDGE_WEIGHTS", values[3])
    same = {"rows": [{"mean_margin_db": 1.0, "margins_db": [1.0], "below_bar": 0} for _ in values]}
    assert bench.choose([same], "HEDGE_WEIGHTS") == values[3]
    assert "the guard's current 0.5, 0.75, 0.9 stays" in bench.markdown(
        [{"set": "s", "degrade": "d", "model": "m", "best_baseline": "b", "held_out": [], "rows": same["rows"]}],
        values[3], {"machine": "x", "threads": 1, "torch": "t", "seconds": 1.0}, "HEDGE_WEIGHTS")
