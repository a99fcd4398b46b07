"""One explorer helper behind every interactive widget in the book.

A chapter writes a function ``draw(**params) -> Figure`` and calls it once
to produce the static figure of the rendered book. The same function, wrapped
by :func:`explorer`, becomes a widget: sliders and menus for some of the
parameters and an output area that shows the redrawn figure whenever a
control changes.

    explorer(draw_pooling, {"load": (0.1, 0.95, 0.05), "servers": (1, 16)})

``draw`` may build a new figure on every call, or build one figure once and
update its artists in place on every call (``set_data``, ``set_height``,
``relim``, ``set_title``), which is about a third quicker: a new figure costs
its axes and five artists per tick before anything is painted
(:func:`mqlb.plotting.fixed_axes` makes such a figure). Either way
the explorer paints the figure and takes it out of pyplot's list of open
figures, so that the notebook does not show it a second time.

When ``draw`` rejects a configuration with ``ValueError`` or ``TypeError``
(the models' own validation, e.g. an unstable load), the output area shows a
one-line message instead of a traceback; any other exception is a bug and
propagates.

The figure is stored in the output area as a PNG, so an executed notebook
keeps a snapshot of the widget and the widget can be driven in tests without
a browser or a kernel.

Rendering is kept to one drawing pass, because a slider feels broken when a
redraw takes more than a fifth of a second. ``Figure.savefig`` under the book
style draws every figure twice (once to run the layout engine and measure the
tight bounding box, once to paint) and crops to the tight box. The explorer
instead paints the figure once on an Agg canvas at its own size: the figure's
layout engine (constrained layout under the book style) still runs, once, and
fills the figure, so nothing needs cropping. The dpi is capped at
:data:`WIDGET_DPI`. Static figures of the book are not affected.
"""

from __future__ import annotations

import base64
import gc
import html
import inspect
import math
import struct
import time
import zlib
from collections.abc import Callable, Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["CSS_CLASS", "ERROR_PREFIX", "WIDGET_DPI", "Explorer", "explorer", "render_png"]

#: CSS class of every explorer's outer box, for styling and browser tests.
CSS_CLASS = "mqlb-explorer"

#: Highest resolution of a widget's figure, dots per inch (the book's figures
#: are drawn at 100; a finer figure is drawn at this resolution in the widget).
WIDGET_DPI = 100

#: Start of the message shown when ``draw`` rejects a configuration.
ERROR_PREFIX = "Can't run this configuration: "

_ERROR_STYLE = (
    "color:#7a2900;background:#fff3eb;border-left:4px solid #D55E00;"
    "padding:0.4em 0.8em;margin:0.3em 0;font-family:sans-serif"
)
_NOTE_STYLE = "color:#555;font-size:90%;font-family:sans-serif;margin:0.2em 0"


class Explorer(widgets.VBox):
    """Controls above an output area that shows ``draw(**params)``.

    Build it with :func:`explorer`. Attributes worth reading:

    - ``controls``: dict parameter name -> control widget;
    - ``fixed``: dict parameter name -> value passed unchanged on every call;
    - ``output``: the ``ipywidgets.Output`` holding the figure or the message;
    - ``last_params``: the keyword arguments of the latest call to ``draw``;
    - ``last_error``: the message of the latest rejected configuration, or None;
    - ``last_update_seconds``: wall time of the latest update, draw + render, s;
    - ``updates``: number of updates so far (the first happens on construction);
    - ``over_budget``: True if the latest update took longer than ``max_seconds``.
    """

    def __init__(
        self,
        draw: Callable[..., Figure],
        controls: Mapping[str, object],
        *,
        max_seconds: float | None = None,
    ) -> None:
        if not callable(draw):
            raise TypeError(f"draw must be a callable returning a Figure, got {draw!r}")
        if not isinstance(controls, Mapping):
            raise TypeError(
                f"controls must map parameter names to widgets, got {type(controls).__name__}"
            )
        if max_seconds is not None:
            if isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)):
                raise TypeError(f"max_seconds must be a number or None, got {max_seconds!r}")
            if not 0 < max_seconds < math.inf:
                raise ValueError(f"max_seconds must be > 0, got {max_seconds!r}")
        signature = inspect.signature(draw)
        _check_names(draw, signature, controls)

        self._draw = draw
        self.max_seconds = max_seconds
        self.controls: dict[str, widgets.ValueWidget] = {}
        self.fixed: dict[str, object] = {}
        for name, control in controls.items():
            if isinstance(control, widgets.fixed):
                self.fixed[name] = control.value
            else:
                self.controls[name] = _as_widget(name, control, signature)
        self.output = widgets.Output()
        self.last_params: dict[str, object] = {}
        self.last_error: str | None = None
        self.last_update_seconds: float | None = None
        self.updates = 0
        self.over_budget = False

        panel = widgets.HBox(
            list(self.controls.values()), layout=widgets.Layout(flex_flow="row wrap")
        )
        super().__init__([panel, self.output])
        self.add_class(CSS_CLASS)
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        _settle_garbage()
        self.refresh()

    def params(self) -> dict[str, object]:
        """The keyword arguments ``draw`` gets with the controls as they are now."""
        values = {name: control.value for name, control in self.controls.items()}
        return {**self.fixed, **values}

    def refresh(self) -> None:
        """Call ``draw`` with the current parameters and show the result."""
        params = self.params()
        started = time.perf_counter()
        open_before = set(plt.get_fignums())
        try:
            try:
                figure = self._draw(**params)
            except (ValueError, TypeError) as error:
                self.last_error = " ".join(str(error).split()) or type(error).__name__
                shown = [_error_output(self.last_error)]
            else:
                if not isinstance(figure, Figure):
                    raise TypeError(
                        f"draw must return a matplotlib Figure, got {type(figure).__name__}"
                    )
                self.last_error = None
                shown = [_figure_output(figure)]
                plt.close(figure)
        finally:
            for number in set(plt.get_fignums()) - open_before:
                plt.close(number)
        elapsed = time.perf_counter() - started
        self.over_budget = self.max_seconds is not None and elapsed > self.max_seconds
        if self.over_budget:
            shown.append(_note_output(f"This update took {elapsed:.1f} s."))
        self.output.outputs = tuple(shown)
        self.last_params = params
        self.last_update_seconds = elapsed
        self.updates += 1

    def _on_change(self, change) -> None:
        self.refresh()


def explorer(
    draw: Callable[..., Figure],
    controls: Mapping[str, object],
    *,
    max_seconds: float | None = None,
) -> Explorer:
    """Wrap the pure figure function ``draw`` in an interactive widget.

    ``controls`` maps parameter names of ``draw`` to ipywidgets, or to the
    abbreviations ``ipywidgets.interact`` understands: ``(min, max)`` or
    ``(min, max, step)`` for a slider, a list for a menu, a bool for a
    checkbox; ``ipywidgets.fixed(value)`` passes a value without a control.
    A slider starts at the default value of that parameter in ``draw``'s
    signature, so the first figure is the static one of the chapter.
    Parameters not named here keep their defaults.

    ``max_seconds`` is the time budget of one update, s: a slower update gets
    a short note under the figure and sets ``over_budget``.
    """
    return Explorer(draw, controls, max_seconds=max_seconds)


def _settle_garbage() -> None:
    """Collect garbage now and exempt what survives from later full collections.

    In a chapter's kernel a full collection of the cyclic garbage collector
    walks a quarter of a million objects (about 0.2 s on a small machine) and
    lands, sooner or later, inside a redraw. ``gc.freeze`` moves everything
    alive now (modules, the chapter's results) out of the collector's sight,
    so later collections walk only what the explorer's own updates create.
    Frozen objects are still freed by reference counting when they fall out
    of use; only reference cycles among them are no longer reclaimed.
    """
    gc.collect()
    gc.freeze()


def _check_names(draw, signature: inspect.Signature, controls: Mapping[str, object]) -> None:
    """Every control must name a keyword parameter of ``draw``."""
    parameters = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [
        name
        for name, p in parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    unknown = [name for name in controls if name not in accepted]
    if unknown:
        raise ValueError(
            f"controls name parameters that {getattr(draw, '__name__', 'draw')} does not "
            f"take: {', '.join(unknown)}; it takes: {', '.join(accepted) or 'nothing'}"
        )


def _as_widget(name: str, control: object, signature: inspect.Signature) -> widgets.ValueWidget:
    """Turn a widget or an ``interact`` abbreviation into a labelled control."""
    if isinstance(control, widgets.ValueWidget):
        widget = control
    else:
        parameter = signature.parameters.get(name)
        default = parameter.default if parameter is not None else inspect.Parameter.empty
        widget = widgets.interactive.widget_from_abbrev(control, default)
        if widget is None or not isinstance(widget, widgets.ValueWidget):
            raise TypeError(
                f"control for {name!r} must be a widget, a (min, max[, step]) tuple, "
                f"a list of choices or a bool, got {control!r}"
            )
        if "continuous_update" in widget.keys:
            widget.continuous_update = False  # redraw on release, not while dragging
    if not getattr(widget, "description", None):
        widget.description = name
    if "style" in widget.keys and hasattr(widget.style, "description_width"):
        widget.style.description_width = "initial"
    return widget


def _figure_output(figure: Figure) -> dict:
    """A display_data output holding ``figure`` as a PNG."""
    return {
        "output_type": "display_data",
        "data": {
            "image/png": base64.b64encode(render_png(figure)).decode("ascii"),
            "text/plain": repr(figure),
        },
        "metadata": {},
    }


def render_png(figure: Figure) -> bytes:
    """``figure`` as PNG bytes, painted once; the figure keeps its canvas, dpi
    and layout engine.

    One pass of ``Figure.draw`` on an Agg canvas runs the figure's layout
    engine once and paints; there is no measuring pass and no tight cropping
    (see the module notes). The resolution is the figure's, at most
    :data:`WIDGET_DPI`.
    """
    own_canvas, own_dpi = figure.canvas, figure.dpi
    try:
        if own_dpi > WIDGET_DPI:
            figure.set_dpi(WIDGET_DPI)
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        png = _encode_png(np.asarray(canvas.buffer_rgba()))
    finally:
        figure.set_canvas(own_canvas)
        if figure.dpi != own_dpi:
            figure.set_dpi(own_dpi)
    return png


def _encode_png(rgba: np.ndarray) -> bytes:
    """An RGBA image (rows, columns, 4 uint8) as PNG bytes.

    Written directly rather than through Pillow: Pillow tries every PNG row
    filter on every row, which costs four times as long as compressing the
    unfiltered rows with zlib's fastest level, for an image of about the same
    size (a plot is mostly flat colour, which compresses well unfiltered).
    """
    height, width, _ = rgba.shape
    rows = np.empty((height, 1 + 4 * width), dtype=np.uint8)
    rows[:, 0] = 0                                   # filter type of each row: none
    rows[:, 1:] = rgba.reshape(height, 4 * width)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)   # 8-bit RGBA, not interlaced
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)) + chunk(b"IEND", b""))


def _error_output(message: str) -> dict:
    """A display_data output with the one-line rejection message."""
    text = ERROR_PREFIX + message
    return {
        "output_type": "display_data",
        "data": {
            "text/html": f'<div class="mqlb-explorer-error" style="{_ERROR_STYLE}">'
            f"{html.escape(text)}</div>",
            "text/plain": text,
        },
        "metadata": {},
    }


def _note_output(text: str) -> dict:
    """A small grey note under the figure."""
    return {
        "output_type": "display_data",
        "data": {
            "text/html": f'<div class="mqlb-explorer-note" style="{_NOTE_STYLE}">'
            f"{html.escape(text)}</div>",
            "text/plain": text,
        },
        "metadata": {},
    }
