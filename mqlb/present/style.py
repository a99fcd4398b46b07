"""One look for every figure in the book.

Call :func:`use_book_style` once at the top of a chapter, draw with
``fig, ax = plt.subplots()``, colour each architecture from :data:`COLOURS`
and finish every axis with :func:`decorate`.

The palette is Okabe and Ito's, which stays distinguishable under the common
forms of colour-blindness and in greyscale print.
"""

from __future__ import annotations

from cycler import cycler
import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine

__all__ = ["ARCHITECTURE_COLOURS", "BOOK_RC", "COLOURS", "FIGSIZE", "decorate", "fixed_axes", "use_book_style"]

#: Width and height of a figure that fits the book's text column, inches.
FIGSIZE = (7.0, 3.6)

#: One colour per architecture (and for theory against simulation).
COLOURS = {
    "lb": "#D55E00",  # vermillion: load balancer pushing to servers
    "lb_queue": "#E69F00",  # orange: load balancer that queues (HAProxy maxconn)
    "mq": "#0072B2",  # blue: message queue, consumers pull
    "hybrid": "#009E73",  # bluish green: load balancer in front of queues
    "theory": "#000000",  # black: closed-form result
    "simulated": "#CC79A7",  # reddish purple: a simulated series of any kind
}

#: One colour per architecture of :data:`mqlb.scenarios.ARCHITECTURES` and
#: :data:`mqlb.scenarios.MORE_ARCHITECTURES`.
ARCHITECTURE_COLOURS = {"LB push": COLOURS["lb"], "LB + queue": COLOURS["lb_queue"], "MQ": COLOURS["mq"],
                        "Hybrid": COLOURS["hybrid"],
                        "Path split": "#CC79A7", "MQ, two queues": "#56B4E9", "MQ autoscaled": "#7F7F7F"}

_CYCLE = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"]

#: The rcParams :func:`use_book_style` applies; usable with ``plt.style.context``.
BOOK_RC = {
    "figure.figsize": FIGSIZE,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "savefig.bbox": "tight",
    "figure.constrained_layout.use": True,
    "font.size": 11,
    "axes.titlesize": 12,
    # A title sits just above its axes (no axes here has ticks on top); left
    # automatic, matplotlib measures every tick label to place it.
    "axes.titley": 1.0,
    # Unhinted glyphs: indistinguishable at these sizes and quicker to draw,
    # which matters for the interactive figures.
    "text.hinting": "no_hinting",
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=_CYCLE),
    "lines.linewidth": 2.0,
    "lines.markersize": 5.0,
}


def use_book_style() -> None:
    """Apply :data:`BOOK_RC` to matplotlib's global rcParams."""
    mpl.rcParams.update(BOOK_RC)


def decorate(ax, *, xlabel=None, ylabel=None, title=None, legend=True):
    """Label ``ax`` and add a legend if any artist has a label; return ``ax``.

    Put units in the labels, e.g. ``xlabel="arrival rate λ (jobs/s)"``.
    """
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            ax.legend(handles, labels)
    return ax


def fixed_axes(figsize=FIGSIZE, *, left: float, right: float, bottom: float, top: float):
    """Axes on a new figure with a fixed layout: the figure an explorer builds
    once and updates in place. Margins are fractions of the figure.

    Constrained layout measures every label before each painting; a fixed
    layout does not. The figure is not registered with pyplot (show it by
    returning it from a cell). Its layout engine is matplotlib's placeholder
    rather than none: a figure without an engine falls back to the book
    style's constrained layout after every ``savefig(bbox_inches="tight")``,
    which is how a notebook shows a figure, and would then be laid out afresh
    on every update.
    """
    fig = Figure(figsize=figsize, layout=PlaceHolderLayoutEngine(adjust_compatible=True, colorbar_gridspec=True))
    fig.subplots_adjust(left=left, right=right, bottom=bottom, top=top)
    return fig.subplots()
