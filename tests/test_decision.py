"""The decision flowchart as data (mqlb.decision) and the diagrams drawn by code
(mqlb.present.diagrams). The flowchart is checked against the advisor itself in the
decision-guide chapter (nbval); here, that the check can fail."""

from __future__ import annotations

from dataclasses import replace

import pytest
from matplotlib.figure import Figure

from mqlb import claims, decision, scenarios
from mqlb.present import diagrams


def flowchart_says(setting):
    return decision.follow(setting).answer


def test_every_leaf_is_reached_by_its_example():
    for leaf in decision.leaves():
        assert decision.follow(leaf.example) is leaf, leaf.advice


def test_leaves_name_architectures_and_claims_that_exist():
    answers = [leaf.answer for leaf in decision.leaves()]
    assert set(answers) - {None} <= set(scenarios.ARCHITECTURES)
    assert None in answers                       # the advisor's refusals have leaves too
    for leaf in decision.leaves():
        assert set(leaf.claims) <= set(claims.CLAIMS), leaf.claims


def test_agreeing_advisor_gives_no_disagreement():
    assert decision.disagreements(flowchart_says) == []


def test_a_different_advisor_is_caught():
    """The check fails for an advisor that answers otherwise, and counts a
    ValueError as a refusal (None)."""
    assert len(decision.disagreements(lambda s: "MQ")) == len(decision.leaves())

    def refuses(setting):
        raise ValueError("add machines")

    found = decision.disagreements(refuses)
    assert len(found) == sum(leaf.answer is not None for leaf in decision.leaves())


def test_a_mutated_flowchart_is_caught():
    """Swap the last question's answers: its examples now reach the other leaf."""
    def swap_last(node):
        if isinstance(node.yes, decision.Leaf) and isinstance(node.no, decision.Leaf):
            return replace(node, yes=node.no, no=node.yes)
        if isinstance(node.yes, decision.Question):
            return replace(node, yes=swap_last(node.yes))
        return replace(node, no=swap_last(node.no))

    mutated = swap_last(decision.FLOWCHART)
    assert len(decision.disagreements(flowchart_says, mutated)) == 2


def test_path_reads_like_the_chart():
    steps = decision.path(decision.Setting())
    assert [answer for _q, answer in steps[:-1]] == [True, True, False, False]
    assert steps[-1].answer == "Hybrid"


@pytest.mark.parametrize("kwargs, message", [
    (dict(light_share=1.0), "light_share"), (dict(surge_factor=0.5), "surge_factor"),
    (dict(rate=-1.0), "rate"), (dict(n_servers=0), "n_servers")])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        decision.Setting(**kwargs)


def test_path_refuses_a_non_setting():
    with pytest.raises(TypeError, match="setting"):
        decision.path({"rate": 10.0})


def figure_text(fig: Figure) -> str:
    return " ".join(t.get_text().replace("\n", " ") for ax in fig.axes for t in ax.texts)


def test_flowchart_shows_every_question_and_every_leaf():
    text = figure_text(diagrams.flowchart())
    node, questions = decision.FLOWCHART, []
    while isinstance(node, decision.Question):
        questions.append(node.text)
        node = node.yes if isinstance(node.yes, decision.Question) else node.no
    for words in questions + [leaf.advice for leaf in decision.leaves()]:
        assert words in text, words


def test_flowchart_refuses_a_tree_it_cannot_lay_out():
    q = decision.FLOWCHART
    with pytest.raises(ValueError, match="two questions"):
        diagrams.flowchart(replace(q, no=q.yes))


@pytest.mark.parametrize("draw, words", [
    (diagrams.cluster, ["load balancer", "health checks", "server 4", "client 1"]),
    (diagrams.architectures, list(scenarios.ARCHITECTURES) + ["broker", "prefetch 1"])])
def test_diagrams_label_their_parts(draw, words):
    fig = draw()
    assert isinstance(fig, Figure)
    text = figure_text(fig)
    for w in words:
        assert w in text, w


def test_png_is_an_image_not_a_repr():
    image = diagrams.png(diagrams.cluster())
    assert image.data[:8] == b"\x89PNG\r\n\x1a\n"
    from IPython.core.formatters import format_display_data
    data, _metadata = format_display_data(image)
    assert "image/png" in data
