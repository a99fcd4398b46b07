"""One explorer helper behind every interactive figure of the book.

A chapter states the experiment; the explorer does the rest:

    explorer(model=surge_run, view=surge_view, controls={"peak": (10.0, 40.0, 5.0)})

``model(**params)`` runs the simulation for the parameters it names and
returns its result; ``view(result, **params)`` draws that result and returns
a Figure (it gets the parameters it names, e.g. a target line that needs no
new run; a parameter both take needs its default only in the model).
``explorer(draw, controls)`` with one function ``draw(**params) -> Figure``
works too. ``controls`` maps parameter names to ipywidgets or to the
abbreviations ``ipywidgets.interact`` understands: ``(min, max)`` or
``(min, max, step)`` for a slider, a list for a menu, a bool for a checkbox;
``ipywidgets.fixed(value)`` passes a value without a control. Every control
starts at the parameter's default in the function's signature.

The explorer owns the plumbing: the model runs inside
:func:`mqlb.sweep.side_by_side` (its ``simulate_each`` uses the shared worker
pool without naming it), the model's results are cached by parameters
(moving a view-only control needs no new run), the figure is painted once per
update on an Agg canvas and stored as a PNG, and a configuration the model
rejects with ``ValueError``/``TypeError`` shows a one-line message instead of a
traceback (any other exception is a bug and propagates).

Two editions of one explorer, drawn by the same code:

- **live** (a kernel: JupyterLab, Voila, nbval): a widget over the full ranges
  that redraws on every change (:class:`Explorer`);
- **static** (the built book, switched on by the environment variable
  :data:`STATIC_ENV`, which ``scripts/build_book.py`` sets): no widget; every
  position the static controls offer is drawn at build time, and the cell's
  output is plain HTML controls, one image and a small script
  (``book_assets/js/explorer.js``) that swaps in the precomputed image of the
  chosen state, loaded on demand (:class:`StaticExplorer`). A slider with more
  than :data:`STATIC_POSITIONS` positions offers that many in the static
  edition (ends and default included; ``static={name: [values]}`` chooses
  others), and the widget says so; a menu keeps every entry.
  States are cached by a hash of the chapter's code and the package's source,
  so a build reuses every image whose code did not change.

``draw`` may build a new figure on every call, or build one figure once and
update its artists in place (:func:`mqlb.present.style.fixed_axes` makes
such a figure). Either way the explorer takes it out of pyplot's list of open
figures, so that the notebook does not show it a second time.

Rendering is one drawing pass at the figure's own size (no tight crop), with
the resolution capped at :data:`WIDGET_DPI`.
"""

from __future__ import annotations

import base64
import functools
import gc
import hashlib
import html
import inspect
import json
import math
import os
import struct
import sys
import time
import weakref
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as widgets
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..sweep import side_by_side

__all__ = ["CSS_CLASS", "ERROR_PREFIX", "STATIC_ENV", "STATIC_POSITIONS", "WIDGET_DPI", "draw_output", "rejection",
           "Explorer", "StaticExplorer", "explorer", "render_png", "static_positions"]

#: CSS class of every explorer's outer box, for styling and browser tests.
CSS_CLASS = "mqlb-explorer"

#: Highest resolution of a widget's figure, dots per inch.
WIDGET_DPI = 100

#: Start of the message shown when the model rejects a configuration.
ERROR_PREFIX = "Can't run this configuration: "

#: Environment variable naming the folder the static edition writes its images
#: to; unset (the default), :func:`explorer` builds the live widget.
STATIC_ENV = "MQLB_STATIC_EXPLORERS"

#: Environment variable naming the folder of the static edition's cache
#: (kept between builds); unset, nothing is cached.
CACHE_ENV = "MQLB_EXPLORER_CACHE"

#: Positions a slider offers in the static edition when it has more live.
STATIC_POSITIONS = 5

_ERROR_STYLE = (
    "color:#7a2900;background:#fff3eb;border-left:4px solid #D55E00;"
    "padding:0.4em 0.8em;margin:0.3em 0;font-family:sans-serif"
)
_NOTE_STYLE = "color:#555;font-size:90%;font-family:sans-serif;margin:0.2em 0"


def explorer(
    draw: Callable[..., Figure] | None = None,
    controls: Mapping[str, object] | None = None,
    *,
    model: Callable | None = None,
    view: Callable[..., Figure] | None = None,
    max_seconds: float | None = None,
    static: Mapping[str, list] | None = None,
):
    """An explorer of ``draw`` (or of ``view`` over ``model``) with ``controls``.

    Returns the live widget (:class:`Explorer`), or, while the book is built
    (environment variable :data:`STATIC_ENV` set), its static edition
    (:class:`StaticExplorer`). ``max_seconds`` is the time budget of one live
    update, s: a slower update gets a short note under the figure. ``static``
    maps a slider's name to the values its static edition offers.
    """
    draw = _draw_function(draw, model, view)
    if controls is None:
        raise TypeError("explorer needs controls: a dict of parameter name -> control")
    if os.environ.get(STATIC_ENV):
        return StaticExplorer(draw, controls, static=static, folder=Path(os.environ[STATIC_ENV]))
    if static is not None and not isinstance(static, Mapping):
        raise TypeError(f"static must map control names to lists of values, got {static!r}")
    return Explorer(draw, controls, max_seconds=max_seconds)


def _draw_function(draw, model, view):
    """One ``draw(**params) -> Figure`` from ``draw`` or from ``model`` and ``view``."""
    if draw is not None:
        if model is not None or view is not None:
            raise TypeError("give either draw, or model and view, not both")
        if not callable(draw):
            raise TypeError(f"draw must be a callable returning a Figure, got {draw!r}")
        return draw
    if not callable(model) or not callable(view):
        raise TypeError(f"model and view must both be callables, got model={model!r}, view={view!r}")
    model_names = _keyword_names(model)
    view_names = _keyword_names(view)[1:]     # the first parameter is the model's result
    cached_model = functools.lru_cache(maxsize=64)(model)
    defaults = {**_defaults(view), **_defaults(model)}

    def draw(**params):
        params = {**defaults, **params}      # a view may leave its defaults to the model's signature
        result = cached_model(**{k: v for k, v in params.items() if k in model_names})
        return view(result, **{k: v for k, v in params.items() if k in view_names})

    parameters = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                    default=defaults.get(name, inspect.Parameter.empty))
                  for name in dict.fromkeys(model_names + view_names)]
    draw.__signature__ = inspect.Signature(parameters)
    draw.__name__ = f"{getattr(view, '__name__', 'view')}({getattr(model, '__name__', 'model')})"
    draw.model, draw.view = model, view
    return draw


def _keyword_names(fn) -> list[str]:
    return [name for name, p in inspect.signature(fn).parameters.items()
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]


def _defaults(fn) -> dict:
    return {name: p.default for name, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty}


def draw_output(draw: Callable[..., Figure], params: Mapping[str, object]) -> dict:
    """The output both editions show for ``params``: a PNG of ``draw(**params)``,
    or the one-line message when the model rejects the configuration."""
    open_before = set(plt.get_fignums())
    try:
        try:
            with side_by_side():             # the model's simulate_each runs on the shared pool
                figure = draw(**params)
        except (ValueError, TypeError) as error:
            return _error_output(" ".join(str(error).split()) or type(error).__name__)
        if not isinstance(figure, Figure):
            raise TypeError(f"draw must return a matplotlib Figure, got {type(figure).__name__}")
        output = _figure_output(figure)
        plt.close(figure)
        return output
    finally:
        for number in set(plt.get_fignums()) - open_before:
            plt.close(number)


class Explorer(widgets.VBox):
    """The live edition: controls above an output area that shows ``draw(**params)``.

    Build it with :func:`explorer`. Attributes worth reading:

    - ``controls``: dict parameter name -> control widget;
    - ``fixed``: dict parameter name -> value passed unchanged on every call;
    - ``output``: the ``ipywidgets.Output`` holding the figure or the message;
    - ``last_params``: the keyword arguments of the latest call to ``draw``;
    - ``last_error``: the message of the latest rejected configuration, or None;
    - ``last_update_seconds``: wall time of the latest update, draw + render, s;
    - ``updates``: number of updates so far (the first happens on construction);
    - ``over_budget``: True if the latest update took longer than ``max_seconds``.

    ``Explorer.instances`` holds weak references to every live explorer built
    in this process, in order (the browser test drives a chapter's explorers
    through it).
    """

    instances: list = []

    def __init__(
        self,
        draw: Callable[..., Figure],
        controls: Mapping[str, object],
        *,
        max_seconds: float | None = None,
    ) -> None:
        draw = _draw_function(draw, None, None)
        _check_controls(controls)
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
        Explorer.instances.append(weakref.ref(self))
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
        shown = [draw_output(self._draw, params)]
        self.last_error = shown[0]["data"]["text/plain"][len(ERROR_PREFIX):] \
            if "image/png" not in shown[0]["data"] else None
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


def _settle_garbage() -> None:
    """Collect garbage now and exempt what survives from later full collections.

    In a chapter's kernel a full collection of the cyclic garbage collector
    walks a quarter of a million objects (about 0.2 s on a small machine) and
    lands, sooner or later, inside a redraw. ``gc.freeze`` moves everything
    alive now (modules, the chapter's results) out of the collector's sight,
    so later collections walk only what the explorer's own updates create.
    """
    gc.collect()
    gc.freeze()


def _check_controls(controls) -> None:
    if not isinstance(controls, Mapping):
        raise TypeError(
            f"controls must map parameter names to widgets, got {type(controls).__name__}"
        )


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


# --- the static edition ---------------------------------------------------


@dataclass(frozen=True)
class StaticControl:
    """The positions one control offers in the static edition.

    ``values`` are passed to ``draw``; ``labels`` are shown; ``default`` is
    the index of the signature's default; ``live`` is the number of positions
    of the live control; ``kind`` is "slider", "menu" or "checkbox".
    """

    name: str
    kind: str
    values: tuple
    labels: tuple
    default: int
    live: int


def static_positions(name: str, control: object, default: object,
                     chosen: list | None = None) -> StaticControl:
    """The static positions of the control abbreviation ``control`` (see
    :func:`explorer`) of the parameter ``name`` whose default is ``default``.

    A menu keeps every entry; a slider keeps every position if it has at most
    :data:`STATIC_POSITIONS`, else ``chosen`` or that many evenly spaced ones
    (both ends, and the default in place of the nearest).
    """
    if isinstance(control, widgets.Widget):
        raise TypeError(f"control {name!r}: the static edition needs an abbreviation "
                        f"((min, max[, step]), a list or a bool), not a widget object")
    if isinstance(control, bool):
        values, kind = (False, True), "checkbox"
        return StaticControl(name, kind, values, ("off", "on"), values.index(bool(default)), 2)
    if isinstance(control, tuple) and len(control) in (2, 3) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in control):
        return _slider_positions(name, control, default, chosen)
    if isinstance(control, (list, tuple, dict)):
        items = list(control.items()) if isinstance(control, dict) else list(control)
        live = len(items)
        if chosen is not None:
            if list(chosen) != [default]:
                raise ValueError(f"a menu keeps every entry in the static edition: static positions "
                                 f"of {name!r} can only be [default], got {chosen!r}")
            items = [i for i in items if (i[1] if isinstance(i, tuple) and len(i) == 2 else i) == default]
        if all(isinstance(i, tuple) and len(i) == 2 and isinstance(i[0], str) for i in items):
            labels, values = [i[0] for i in items], [i[1] for i in items]
        else:
            labels, values = [str(i) for i in items], items
        if default is inspect.Parameter.empty:
            index = 0
        elif default in values:
            index = values.index(default)
        else:
            raise ValueError(f"control {name!r}: the default {default!r} is not one of its entries {values!r}")
        return StaticControl(name, "menu", tuple(values), tuple(labels), index, live)
    raise TypeError(f"control for {name!r} must be a (min, max[, step]) tuple, "
                    f"a list of choices or a bool, got {control!r}")


def _slider_positions(name, control, default, chosen) -> StaticControl:
    integer = all(isinstance(v, int) for v in control)
    low, high = control[0], control[1]
    step = control[2] if len(control) == 3 else (1 if integer else 0.1)
    count = int(math.floor((high - low) / step + 1e-9)) + 1
    every = [low + i * step for i in range(count)]
    if not integer:
        every = [round(v, 12) for v in every]
    if default is inspect.Parameter.empty:
        default = every[len(every) // 2]
    if chosen is not None:
        values = list(chosen)
        outside = [v for v in values if not low <= v <= high]
        if outside or not (len(values) >= min(STATIC_POSITIONS, count) or values == [default]):
            raise ValueError(f"static positions of {name!r} must be at least "
                             f"{min(STATIC_POSITIONS, count)} values in [{low}, {high}], "
                             f"or [default] to keep it at its default, got {chosen!r}")
    elif count <= STATIC_POSITIONS:
        values = every
    else:
        picks = np.linspace(0, count - 1, STATIC_POSITIONS).round().astype(int)
        values = [every[i] for i in picks]
    if not any(math.isclose(v, default, rel_tol=1e-9, abs_tol=1e-12) for v in values):
        nearest = min(range(len(values)), key=lambda i: abs(values[i] - default))
        if nearest in (0, len(values) - 1) and len(values) > 1:   # keep both ends
            values.append(default)
        else:
            values[nearest] = default
    values = sorted(set(values))
    index = min(range(len(values)), key=lambda i: abs(values[i] - default))
    values[index] = default
    fmt = "d" if integer else ".2f"
    labels = tuple(format(v, fmt) for v in values)
    return StaticControl(name, "slider", tuple(values), labels, index, count)


class StaticExplorer:
    """The static edition of an explorer: every static state drawn now, shown as
    HTML controls and one image that a small script swaps (see the module notes).

    ``states`` maps a state key (the control positions' indices joined by
    "-") to the output ``draw`` gave for it; ``controls`` lists the
    :class:`StaticControl` of each control; ``images`` maps a state key to the
    file name of its PNG in ``folder`` (error states have none).
    """

    def __init__(self, draw, controls, *, static=None, folder: Path) -> None:
        draw = _draw_function(draw, None, None)
        _check_controls(controls)
        signature = inspect.signature(draw)
        _check_names(draw, signature, controls)
        static = dict(static or {})
        unknown = set(static) - set(controls)
        if unknown:
            raise ValueError(f"static names controls that do not exist: {', '.join(sorted(unknown))}")
        self.fixed = {n: c.value for n, c in controls.items() if isinstance(c, widgets.fixed)}
        self.controls = [
            static_positions(n, c, signature.parameters[n].default
                             if n in signature.parameters else inspect.Parameter.empty, static.get(n))
            for n, c in controls.items() if not isinstance(c, widgets.fixed)]
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name = getattr(draw, "__name__", "draw")
        self.states: dict[str, dict] = {}
        self.images: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        started = time.perf_counter()
        self._precompute(draw)
        self.seconds = time.perf_counter() - started

    def keys(self) -> list[str]:
        """Every state key, the default first."""
        default = self.default_key()
        combos = [()]
        for control in self.controls:
            combos = [c + (i,) for c in combos for i in range(len(control.values))]
        keys = ["-".join(map(str, c)) for c in combos]
        return [default] + [k for k in keys if k != default]

    def default_key(self) -> str:
        return "-".join(str(c.default) for c in self.controls)

    def params(self, key: str) -> dict:
        """The keyword arguments ``draw`` gets in the state ``key``."""
        indices = [int(i) for i in key.split("-")] if key else []
        return {**self.fixed, **{c.name: c.values[i] for c, i in zip(self.controls, indices)}}

    def _precompute(self, draw) -> None:
        cache = _StateCache(self._code_hash(draw))
        for key in self.keys():
            params = self.params(key)
            output = cache.get(params)
            if output is None:
                output = draw_output(draw, params)
                cache.put(params, output)
            self.states[key] = output
            if "image/png" in output["data"]:
                png = base64.b64decode(output["data"]["image/png"])
                name = hashlib.sha256(png).hexdigest()[:20] + ".png"
                target = self.folder / name
                if not target.exists():
                    target.write_bytes(png)
                self.images[key] = name
            else:
                self.errors[key] = output["data"]["text/plain"]
        cache.save()

    def _code_hash(self, draw) -> str:
        """A hash of everything that decides the figures: the code run so far in
        this kernel (the chapter's cells), the source of every module of the
        package imported so far, the explorer's controls and the versions of
        Python, matplotlib and numpy."""
        digest = hashlib.sha256()
        shell = _ipython()
        history = shell.user_ns.get("In", []) if shell is not None else []
        digest.update("\n".join(history).encode())
        for code in (draw, getattr(draw, "model", None), getattr(draw, "view", None),
                     type(draw).__call__):
            try:
                digest.update(inspect.getsource(code).encode())
            except (OSError, TypeError):
                pass
        for name, module in sorted(sys.modules.items()):      # the package's modules in use
            path = getattr(module, "__file__", None)
            if (name == "mqlb" or name.startswith("mqlb.")) and path and path.endswith(".py"):
                digest.update(name.encode() + Path(path).read_bytes())
        digest.update(repr([(c.name, c.values) for c in self.controls]).encode())
        digest.update(repr(sorted(self.fixed.items(), key=str)).encode())
        digest.update(f"{matplotlib.__version__} {np.__version__} {sys.version}".encode())
        return digest.hexdigest()[:24]

    def _html(self) -> str:
        default = self.default_key()
        first = self.states[default]
        figure = _state_html(first)
        manifest = {"images": self.images, "errors": self.errors}
        rows = []
        coarser = []
        for position, control in enumerate(self.controls):
            label = html.escape(control.name)
            if control.kind == "slider":
                widget = (f'<input type="range" min="0" max="{len(control.values) - 1}" step="1" '
                          f'value="{control.default}" data-index="{position}" '
                          f'data-labels="{html.escape(json.dumps(control.labels))}" aria-label="{label}">'
                          f'<output>{html.escape(control.labels[control.default])}</output>')
                if len(control.values) == 1:
                    widget = widget.replace("<input ", "<input disabled ")
                    coarser.append(f"{control.name} stays at {control.labels[0]}")
                elif len(control.values) < control.live:
                    coarser.append(f"{control.name} offers {len(control.values)} of its "
                                   f"{control.live} positions")
            else:
                if len(control.values) < control.live:
                    coarser.append(f"{control.name} stays at {control.labels[control.default]}")
                options = "".join(
                    f'<option value="{i}"{" selected" if i == control.default else ""}>'
                    f"{html.escape(text)}</option>" for i, text in enumerate(control.labels))
                widget = (f'<select data-index="{position}" aria-label="{label}"'
                          f'{" disabled" if len(control.values) == 1 else ""}>{options}</select>')
            rows.append(f'<label class="mqlb-control"><span>{label}</span>{widget}</label>')
        note = ("Static edition: every position is drawn in advance by the chapter's code"
                + ("; " + "; ".join(coarser) + ". Run the chapter as a notebook for every position."
                   if coarser else "."))
        params = json.dumps([{"name": c.name, "values": list(c.values)} for c in self.controls],
                            separators=(",", ":"), default=repr)
        return (f'<div class="{CSS_CLASS} mqlb-static" data-default="{default}" '
                f'data-params="{html.escape(params)}" '
                f'data-states="{html.escape(json.dumps(manifest, separators=(",", ":")))}">'
                f'<div class="mqlb-controls">{"".join(rows)}</div>'
                f'<div class="mqlb-figure">{figure}</div>'
                f'<p class="mqlb-note" style="{_NOTE_STYLE}">{html.escape(note)}</p></div>')

    def _repr_mimebundle_(self, include=None, exclude=None):
        text = (f"Explorer of {self.name}: "
                + ", ".join(f"{c.name} ({len(c.values)} positions)" for c in self.controls))
        return {"text/html": self._html(), "text/plain": text}


def _state_html(output: dict) -> str:
    """The default state inline (shown before, and without, any script)."""
    if "image/png" in output["data"]:
        return (f'<img alt="explorer figure" src="data:image/png;base64,'
                f'{output["data"]["image/png"]}">')
    return output["data"]["text/html"]


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:   # pragma: no cover - IPython is a dependency of ipywidgets
        return None
    return get_ipython()


class _StateCache:
    """Outputs of one explorer's states, kept between builds in the folder named
    by :data:`CACHE_ENV` under the hash of the code that drew them."""

    def __init__(self, code_hash: str) -> None:
        folder = os.environ.get(CACHE_ENV)
        self.path = Path(folder) / f"{code_hash}.json" if folder else None
        self.entries: dict[str, dict] = {}
        self.changed = False
        if self.path is not None and self.path.exists():
            try:
                self.entries = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self.entries = {}

    @staticmethod
    def _key(params) -> str:
        return repr(sorted(params.items(), key=lambda item: item[0]))

    def get(self, params):
        return self.entries.get(self._key(params))

    def put(self, params, output) -> None:
        self.entries[self._key(params)] = output
        self.changed = True

    def save(self) -> None:
        if self.path is not None and not self.changed and self.path.exists():
            os.utime(self.path)        # used by this build: scripts/build_book.py keeps it
        if self.path is not None and self.changed:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(self.entries))
            os.replace(temporary, self.path)


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
    """``figure`` as PNG bytes, painted once; the figure keeps its canvas and dpi.

    One pass of ``Figure.draw`` on an Agg canvas runs the figure's layout
    engine once and paints; there is no measuring pass and no tight cropping.
    The resolution is the figure's, at most :data:`WIDGET_DPI`.
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


def rejection(draw: Callable[..., Figure] | None = None, /, *, model: Callable | None = None,
              view: Callable[..., Figure] | None = None, **params) -> str | None:
    """The one-line message an explorer of ``draw`` (or of ``view`` over ``model``)
    shows for ``params``, or None if it draws a figure for them (for a chapter's
    checks of its explorer)."""
    output = draw_output(_draw_function(draw, model, view), params)
    if "image/png" in output["data"]:
        return None
    return output["data"]["text/plain"][len(ERROR_PREFIX):]
