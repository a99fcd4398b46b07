"""The explorer helper, driven headless: set a control, inspect the output area."""

import base64
import io

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mqlb.present import style as plotting  # noqa: E402
from mqlb.present.explorer import (  # noqa: E402
    CSS_CLASS,
    ERROR_PREFIX,
    WIDGET_DPI,
    Explorer,
    explorer,
    rejection,
    render_png,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class RecordingDraw:
    """A draw function that remembers its calls and rejects load >= 1."""

    def __init__(self):
        self.calls = []

    def __call__(self, load=0.5, servers=4, label="mq"):
        self.calls.append(dict(load=load, servers=servers, label=label))
        if load >= 1.0:
            raise ValueError(f"rho must be < 1 for a stable queue, got load={load}")
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, load * servers], label=label)
        return fig


def only_output(box):
    (output,) = box.output.outputs
    return output


def png_of(output):
    return base64.b64decode(output["data"]["image/png"])


def test_first_figure_is_drawn_with_the_signature_defaults():
    draw = RecordingDraw()
    box = explorer(draw, {"load": (0.1, 0.95, 0.05), "servers": (1, 16)})
    assert isinstance(box, Explorer) and isinstance(box, widgets.Widget)
    assert draw.calls == [dict(load=0.5, servers=4, label="mq")]
    assert png_of(only_output(box)).startswith(PNG_MAGIC)
    assert box.updates == 1 and box.last_error is None


def test_changing_a_control_redraws_with_the_new_value():
    draw = RecordingDraw()
    box = explorer(draw, {"load": (0.1, 0.95, 0.05), "servers": (1, 16)})
    first = png_of(only_output(box))
    box.controls["servers"].value = 8
    assert draw.calls[-1] == dict(load=0.5, servers=8, label="mq")
    assert box.last_params == dict(load=0.5, servers=8)
    second = png_of(only_output(box))
    assert second.startswith(PNG_MAGIC) and second != first
    assert box.updates == 2


def test_update_time_is_recorded():
    box = explorer(RecordingDraw(), {"load": (0.1, 0.95, 0.05)})
    box.controls["load"].value = 0.8
    assert box.last_update_seconds is not None and 0.0 < box.last_update_seconds < 30.0
    assert box.over_budget is False


def test_rejected_configuration_shows_one_line_message_not_traceback():
    draw = RecordingDraw()
    slider = widgets.FloatSlider(value=0.5, min=0.1, max=1.5, step=0.1, description="load ρ")
    box = explorer(draw, {"load": slider})
    slider.value = 1.2
    assert draw.calls[-1]["load"] == pytest.approx(1.2)
    output = only_output(box)
    assert "image/png" not in output["data"]
    text = output["data"]["text/plain"]
    assert text.startswith(ERROR_PREFIX) and "rho must be < 1" in text
    assert "\n" not in text and "Traceback" not in text
    assert "mqlb-explorer-error" in output["data"]["text/html"]
    assert box.last_error.startswith("rho must be < 1")
    assert slider.description == "load ρ"  # a given widget keeps its label


def test_recovers_after_a_rejected_configuration():
    box = explorer(RecordingDraw(), {"load": widgets.FloatSlider(value=0.5, min=0.1, max=1.5)})
    box.controls["load"].value = 1.2
    box.controls["load"].value = 0.7
    assert png_of(only_output(box)).startswith(PNG_MAGIC)
    assert box.last_error is None


def test_type_error_is_also_shown_as_a_message():
    def draw(servers=4):
        raise TypeError(f"servers must be an int,\n got {servers!r}")

    box = explorer(draw, {"servers": (1, 8)})
    text = only_output(box)["data"]["text/plain"]
    assert text == ERROR_PREFIX + "servers must be an int, got 4"


def test_other_exceptions_propagate():
    calls = []

    def draw(load=0.5):
        calls.append(load)
        if load > 0.6:
            raise RuntimeError("a bug in the engine")
        return plt.figure()

    box = explorer(draw, {"load": (0.1, 0.9, 0.1)})
    with pytest.raises(RuntimeError, match="a bug in the engine"):
        box.controls["load"].value = 0.8


def test_draw_must_return_a_figure():
    with pytest.raises(TypeError, match="must return a matplotlib Figure"):
        explorer(lambda load=0.5: None, {"load": (0.1, 0.9)})


def test_figures_are_closed_after_each_update():
    open_before = set(plt.get_fignums())
    draw = RecordingDraw()
    box = explorer(draw, {"servers": (1, 16)})
    for servers in range(2, 12):
        box.controls["servers"].value = servers
    box.controls["servers"].value = 3
    assert set(plt.get_fignums()) == open_before


def test_figures_are_closed_even_when_draw_fails_half_way():
    open_before = set(plt.get_fignums())

    def draw(load=0.5):
        plt.subplots()
        raise ValueError("load too high")

    explorer(draw, {"load": (0.1, 0.9)})
    assert set(plt.get_fignums()) == open_before


def test_abbreviations_become_widgets_that_update_on_release():
    def draw(load=0.5, servers=4, policy="random", pooled=True):
        return plt.figure()

    box = explorer(
        draw,
        {"load": (0.1, 0.9, 0.1), "servers": (1, 16), "policy": ["random", "round_robin"],
         "pooled": True},
    )
    assert isinstance(box.controls["load"], widgets.FloatSlider)
    assert isinstance(box.controls["servers"], widgets.IntSlider)
    assert isinstance(box.controls["policy"], widgets.Dropdown)
    assert isinstance(box.controls["pooled"], widgets.Checkbox)
    assert box.controls["load"].continuous_update is False
    assert box.controls["servers"].description == "servers"
    assert box.controls["policy"].value == "random"


def test_fixed_values_are_passed_without_a_control():
    draw = RecordingDraw()
    box = explorer(draw, {"servers": (1, 16), "label": widgets.fixed("lb")})
    assert set(box.controls) == {"servers"}
    assert draw.calls[-1]["label"] == "lb"
    box.controls["servers"].value = 2
    assert draw.calls[-1] == dict(load=0.5, servers=2, label="lb")


def test_over_budget_update_gets_a_note():
    def draw(load=0.5):
        import time

        time.sleep(0.02)
        return plt.figure()

    box = explorer(draw, {"load": (0.1, 0.9)}, max_seconds=0.001)
    assert box.over_budget is True
    figure, note = box.output.outputs
    assert "image/png" in figure["data"]
    assert "took" in note["data"]["text/plain"]


@pytest.mark.parametrize(
    "args, kwargs, error, words",
    [
        (("not callable", {}), {}, TypeError, "draw"),
        ((RecordingDraw(), [("load", (0, 1))]), {}, TypeError, "controls"),
        ((RecordingDraw(), {"lod": (0.1, 0.9)}), {}, ValueError, "lod"),
        ((RecordingDraw(), {"load": object()}), {}, TypeError, "'load'"),
        ((RecordingDraw(), {}), {"max_seconds": 0}, ValueError, "max_seconds"),
        ((RecordingDraw(), {}), {"max_seconds": "1"}, TypeError, "max_seconds"),
    ],
)
def test_invalid_arguments_are_rejected(args, kwargs, error, words):
    with pytest.raises(error, match=words):
        explorer(*args, **kwargs)


def test_works_under_the_book_style():
    with plt.style.context(plotting.BOOK_RC):
        box = explorer(RecordingDraw(), {"load": (0.1, 0.9, 0.1)})
    assert png_of(only_output(box)).startswith(PNG_MAGIC)


def test_explorer_state_serialises_for_a_static_snapshot():
    box = explorer(RecordingDraw(), {"load": (0.1, 0.9, 0.1)})
    state = box.output.get_state()
    assert state["outputs"][0]["data"]["image/png"]


# --- plotting helper -------------------------------------------------------


def test_decorate_labels_and_adds_legend_only_when_labelled():
    fig, (left, right) = plt.subplots(1, 2)
    left.plot([0, 1], [0, 1], label="mq", color=plotting.COLOURS["mq"])
    right.plot([0, 1], [1, 0])
    assert plotting.decorate(left, xlabel="load ρ", ylabel="mean response (s)", title="t") is left
    plotting.decorate(right, xlabel="x")
    assert left.get_xlabel() == "load ρ" and left.get_title() == "t"
    assert left.get_legend() is not None and right.get_legend() is None
    plt.close(fig)


def test_book_style_has_a_colour_for_every_architecture():
    assert set(plotting.COLOURS) >= {"lb", "lb_queue", "mq", "hybrid", "theory", "simulated"}
    assert len(set(plotting.COLOURS.values())) == len(plotting.COLOURS)
    with plt.style.context(plotting.BOOK_RC):
        fig = plt.figure()
        assert tuple(fig.get_size_inches()) == plotting.FIGSIZE
        plt.close(fig)


# --- rendering the widget's figure ----------------------------------------


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_widget_figure_is_drawn_once_at_full_size_under_the_book_style():
    """One drawing pass (no measuring pass, no tight crop): the PNG is the whole
    figure, laid out by its own (constrained) layout engine."""
    draws = []
    with plt.style.context(plotting.BOOK_RC):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1], label="mq")
        plotting.decorate(ax, xlabel="load ρ", ylabel="mean response (s)", title="t")
        fig.canvas.mpl_connect("draw_event", lambda event: draws.append(event))
        png = render_png(fig)
    assert png.startswith(PNG_MAGIC)
    assert len(draws) == 1
    width, height = plotting.FIGSIZE
    assert png_size(png) == (round(width * 100), round(height * 100))
    # the layout engine ran: the axes moved in from the default subplot margins
    assert ax.get_position().x0 != pytest.approx(plt.rcParamsDefault["figure.subplot.left"])
    plt.close(fig)


def test_render_leaves_the_figure_as_it_was_and_caps_the_resolution():
    fig = plt.figure(figsize=(4, 2), dpi=2 * WIDGET_DPI)
    canvas = fig.canvas
    png = render_png(fig)
    assert png_size(png) == (4 * WIDGET_DPI, 2 * WIDGET_DPI)
    assert fig.canvas is canvas and fig.dpi == 2 * WIDGET_DPI
    plt.close(fig)


def test_fixed_axes_keep_their_layout_after_the_notebook_shows_them():
    """An explorer's figure is shown once by the notebook (savefig with a tight
    box) and then updated in place: it must keep its fixed layout, or every
    later update would run constrained layout (twice the painting time)."""
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    with plt.style.context(plotting.BOOK_RC):
        ax = plotting.fixed_axes((4, 3), left=0.2, right=0.9, bottom=0.2, top=0.85)
        ax.plot([0, 1], [0, 1])
        ax.set_title("a title")
        fig = ax.figure
        before = ax.get_position().bounds
        fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")     # how a notebook shows it
        assert not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)
        png = render_png(fig)
        assert ax.get_position().bounds == pytest.approx(before)
        assert png_size(png) == (400, 300)
        # Why fixed_axes does not use layout="none": matplotlib gives such a
        # figure the style's constrained layout back after a tight savefig.
        plain = Figure(figsize=(4, 3), layout="none")
        plain.subplots().set_title("a title")
        plain.savefig(io.BytesIO(), format="png", bbox_inches="tight")
        assert isinstance(plain.get_layout_engine(), ConstrainedLayoutEngine)


def test_png_holds_exactly_the_painted_pixels():
    """The hand-written PNG encoder: a standard decoder gives back the canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [1, 0])
    ax.set_title("pixels")
    png = render_png(fig)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    assert decoded.shape == (200, 300, 4)
    assert np.array_equal(decoded, np.asarray(canvas.buffer_rgba()))
    plt.close(fig)


def test_explorer_box_carries_a_css_class_for_styling_and_browser_tests():
    box = explorer(RecordingDraw(), {"load": (0.1, 0.9, 0.1)})
    assert CSS_CLASS in box._dom_classes


# --- model and view -------------------------------------------------------


def test_model_and_view_run_the_model_once_per_model_state():
    runs = []

    def model(load=0.5):
        runs.append(load)
        if load >= 1.0:
            raise ValueError(f"load must be < 1, got {load}")
        return load * 10

    def view(result, target=2.0):
        fig, ax = plt.subplots()
        ax.axhline(target)
        ax.plot([0, 1], [0, result])
        return fig

    box = explorer(model=model, view=view, controls={"load": (0.1, 0.9, 0.1), "target": (1.0, 3.0, 1.0)})
    box.controls["target"].value = 3.0          # a view-only control: no new run
    assert runs == [0.5]
    box.controls["load"].value = 0.3
    assert runs == [0.5, 0.3] and box.last_params == {"load": 0.3, "target": 3.0}
    assert png_of(only_output(box)).startswith(PNG_MAGIC)


def test_a_view_shares_the_models_parameters_and_defaults():
    seen = []

    def model(load=0.5):
        if load >= 1.0:
            raise ValueError(f"load must be < 1, got {load}")
        return load * 10

    def view(result, *, load):                  # no default of its own: the model's applies
        seen.append((result, load))
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, result])
        return fig

    assert rejection(model=model, view=view) is None and seen == [(5.0, 0.5)]
    assert rejection(model=model, view=view, load=0.2) is None and seen[-1] == (2.0, 0.2)
    assert "load must be < 1" in rejection(model=model, view=view, load=1.0)
    box = explorer(model=model, view=view, controls={"load": (0.1, 0.9, 0.1)})
    assert box.controls["load"].value == 0.5 and seen[-1] == (5.0, 0.5)


def test_the_model_runs_its_systems_on_the_shared_pool(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    import importlib

    import mqlb
    from mqlb import scenarios

    sweep = importlib.import_module("mqlb.sweep")        # the module (mqlb.sweep is also a function)

    submitted = []

    class Pool(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            submitted.append(fn)
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(sweep, "shared_pool", lambda: Pool(max_workers=2))
    wl = scenarios.surge_workload(seed=1, duration=20.0, surge_start=5.0, surge_end=10.0)
    systems = scenarios.architectures(n_servers=2)

    def model(peak=1.0):                          # names no executor
        return mqlb.simulate_each(systems, wl)

    def view(results, *, peak):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, len(results)])
        return fig

    explorer(model=model, view=view, controls={"peak": (1.0, 2.0, 1.0)})
    assert len(submitted) == len(systems)
    mqlb.simulate_each(systems, wl)               # outside an explorer: in this process
    assert len(submitted) == len(systems)


def test_model_view_and_draw_are_exclusive():
    with pytest.raises(TypeError, match="either draw"):
        explorer(RecordingDraw(), {}, model=lambda: 1, view=lambda r: None)
    with pytest.raises(TypeError, match="model and view"):
        explorer(controls={}, model=lambda: 1)


# --- the static edition ---------------------------------------------------


from mqlb.present.explorer import CACHE_ENV, STATIC_ENV, STATIC_POSITIONS, StaticExplorer, static_positions  # noqa: E402


def test_a_long_slider_offers_coarser_positions_with_ends_and_default():
    control = static_positions("load", (0.05, 0.95, 0.05), 0.8)
    assert control.live == 19 and len(control.values) >= STATIC_POSITIONS
    assert control.values[0] == 0.05 and control.values[-1] == 0.95
    assert control.values[control.default] == 0.8
    assert list(control.values) == sorted(control.values)


def test_a_short_slider_and_a_menu_keep_every_position():
    assert static_positions("k", (1, 4), 2).values == (1, 2, 3, 4)
    menu = static_positions("policy", ["random", "round_robin", "least"], "least")
    assert menu.values == ("random", "round_robin", "least") and menu.default == 2
    assert static_positions("on", True, False).values == (False, True)


def test_a_default_outside_a_menu_is_rejected():
    with pytest.raises(ValueError, match="'policy'.*'fastest'"):
        static_positions("policy", ["random", "least"], "fastest")


def test_chosen_static_positions_need_enough_values_inside_the_range():
    assert static_positions("load", (0.1, 0.9, 0.1), 0.5, [0.1, 0.3, 0.5, 0.7, 0.9]).values[2] == 0.5
    with pytest.raises(ValueError, match="'load'"):
        static_positions("load", (0.1, 0.9, 0.1), 0.5, [0.1, 0.5])
    with pytest.raises(ValueError, match="'load'"):
        static_positions("load", (0.1, 0.9, 0.1), 0.5, [0.1, 0.3, 0.5, 0.7, 2.0])


def test_static_edition_draws_every_state_with_the_same_code(tmp_path, monkeypatch):
    monkeypatch.setenv(STATIC_ENV, str(tmp_path / "states"))
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    draw = RecordingDraw()
    static = explorer(draw, {"load": (0.1, 1.0, 0.1), "label": ["mq", "lb"]})
    assert isinstance(static, StaticExplorer)
    load, label = static.controls
    assert len(static.states) == len(load.values) * 2 == len(draw.calls)
    assert draw.calls[0] == dict(load=0.5, servers=4, label="mq")       # the default first
    # load 1.0 is rejected: a message, no image
    rejected = [k for k in static.states if static.params(k)["load"] >= 1.0]
    assert rejected and all(k in static.errors and k not in static.images for k in rejected)
    for key, name in static.images.items():
        png = (tmp_path / "states" / name).read_bytes()
        assert png.startswith(PNG_MAGIC)
    bundle = static._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" not in bundle
    assert 'class="mqlb-explorer mqlb-static"' in bundle["text/html"]
    assert "load offers" in bundle["text/html"]          # coarser than live: the widget says so


def test_static_state_equals_the_live_figure(tmp_path, monkeypatch):
    controls = {"load": (0.1, 0.9, 0.1), "label": ["mq", "lb"]}
    monkeypatch.setenv(STATIC_ENV, str(tmp_path))
    static = explorer(RecordingDraw(), controls)
    monkeypatch.delenv(STATIC_ENV)
    live = explorer(RecordingDraw(), controls)
    for key in (static.keys()[3], static.keys()[-1]):
        for name, value in static.params(key).items():
            live.controls[name].value = value
        assert png_of(only_output(live)) == (tmp_path / static.images[key]).read_bytes()


def test_static_states_are_reused_while_the_code_is_unchanged(tmp_path, monkeypatch):
    monkeypatch.setenv(STATIC_ENV, str(tmp_path / "states"))
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    first, second = RecordingDraw(), RecordingDraw()
    explorer(first, {"load": (0.1, 0.9, 0.1)})
    explorer(second, {"load": (0.1, 0.9, 0.1)})
    assert first.calls and not second.calls
    explorer(second, {"load": (0.2, 0.8, 0.1)})           # other positions: drawn afresh
    assert second.calls

    class ChangedDraw(RecordingDraw):                       # other code: drawn afresh
        def __call__(self, load=0.5, servers=4, label="lb"):
            return super().__call__(load, servers, label)

    changed = ChangedDraw()
    explorer(changed, {"load": (0.1, 0.9, 0.1)})
    assert changed.calls


def test_a_state_cache_used_again_is_marked_as_used(tmp_path, monkeypatch):
    """scripts/build_book.py prunes the cache files a build did not touch."""
    import os

    monkeypatch.setenv(STATIC_ENV, str(tmp_path / "states"))
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    explorer(RecordingDraw(), {"load": (0.1, 0.9, 0.1)})
    (entry,) = (tmp_path / "cache").glob("*.json")
    os.utime(entry, (1, 1))
    explorer(RecordingDraw(), {"load": (0.1, 0.9, 0.1)})
    assert entry.stat().st_mtime > 1
