"""The presentation layer's helpers: numbers, tables, shared figures."""

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mqlb import measures, scenarios, simulate  # noqa: E402
from mqlb.present import figures, md_table, number  # noqa: E402


@pytest.mark.parametrize("value, spec, text", [
    (-0.001, ".1f", "0.0"), (-0.004, ".0%", "0%"), (-0.0, "g", "0"), (np.float64(-1e-12), ".2e", "-1.00e-12"),
    (-0.2, ".1f", "-0.2"), (-12.0, ".0f", "-12"), (math.inf, ".0f", "inf"), (np.int64(7), "d", "7"),
])
def test_number_never_reads_minus_zero(value, spec, text):
    assert number(value, spec) == text


def test_plain_format_would_print_minus_zero():
    """The case number() exists for: Python's own format keeps the sign."""
    assert format(-0.001, ".1f") == "-0.0"


def test_md_table_rejects_a_row_of_the_wrong_length():
    assert md_table(["a", "b"], [[1, 2]]).data == "| a | b |\n|---|---|\n| 1 | 2 |"
    with pytest.raises(ValueError, match="3 cells for 2 columns"):
        md_table(["a", "b"], [[1, 2, 3]])


def test_ecdf_steps_to_one():
    x, y = figures.ecdf([3.0, 1.0, 2.0])
    assert list(x) == [1.0, 2.0, 3.0] and list(y) == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_scorecard_table_has_a_column_per_architecture_and_a_row_per_measure():
    wl = scenarios.surge_workload(seed=1, duration=120.0, surge_start=30.0, surge_end=60.0)
    systems = scenarios.architectures(n_servers=4)
    cards = {name: measures.surge_scorecard(simulate(systems[name], wl), 30.0, 60.0) for name in ("MQ", "LB push")}
    lines = figures.scorecard_table(cards).data.splitlines()
    assert lines[0] == "|  | MQ | LB push |"
    assert len(lines) == 2 + len(figures.SCORECARD_ROWS)
    failed = next(line for line in lines if line.startswith("| failed light / heavy"))
    assert failed.split(" | ")[1] == f"{cards['MQ']['failed_light']} / {cards['MQ']['failed_heavy']}"
    assert "-0" not in "".join(lines)


def test_surge_timeline_marks_every_crash():
    wl = scenarios.surge_workload(seed=1, duration=120.0, surge_start=30.0, surge_end=60.0)
    res = simulate(scenarios.architectures(n_servers=4)["LB push"], wl)
    ax = figures.surge_timeline_axes(30.0, 60.0)
    fig = figures.show_surge_timeline(ax, res, "LB push", "title")
    jobs, crashes = ax.lines
    assert len(crashes.get_xdata()) == len(res.timeline.crashes) > 0
    assert fig is ax.figure and ax.get_title() == "title"


def test_bar_pairs_take_their_heights_in_order_and_refuse_a_wrong_count():
    ax = figures.bar_pairs_axes(3, {"color": "0.75"}, {"color": "C0", "alpha": 0.5}, (6, 3),
                                left=0.1, right=0.95, bottom=0.15, top=0.9)
    ax.axvspan(0, 1)                                  # another patch must not take a height
    figures.show_bar_pairs(ax, [1, 2, 3], [4, 5, 6], ["a", "b", "c"])
    left, right = ax.containers
    assert [b.get_height() for b in left] == [1, 2, 3] and [b.get_height() for b in right] == [4, 5, 6]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="3 groups"):
        figures.show_bar_pairs(ax, [1, 2], [3, 4], ["a", "b"])
