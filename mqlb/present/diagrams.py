"""Diagrams drawn by code: the load-balanced cluster (chapter 4), the four
architectures of the surge (chapter 8) and the decision flowchart (chapter 9).

Each function returns a new matplotlib :class:`~matplotlib.figure.Figure` in the
book's colours; nothing is an image edited by hand, and nothing needs the
network. The flowchart is drawn from :data:`mqlb.decision.FLOWCHART`, the same
tree the tests check against the advisor.
"""

from __future__ import annotations

import io
import textwrap

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from .. import decision
from .style import BOOK_RC, COLOURS

__all__ = ["architectures", "cluster", "flowchart", "png"]

_INK = "#333333"
_PALE = "#F2F2F2"
_ARCH_COLOURS = {"LB push": COLOURS["lb"], "LB + queue": COLOURS["lb_queue"], "MQ": COLOURS["mq"],
                 "Hybrid": COLOURS["hybrid"]}


def png(fig: Figure, dpi: int = 100):
    """``fig`` as a PNG image for a notebook (to display or ``glue``). A figure made
    without pyplot shows as its text repr until pyplot's inline backend is loaded;
    an image shows in any case."""
    from IPython.display import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return Image(data=buffer.getvalue(), format="png")


def _canvas(width_in: float, height_in: float, xmax: float, ymax: float):
    """A figure with one frameless axes in data units 0..xmax × 0..ymax, equal aspect."""
    with mpl.rc_context(BOOK_RC):
        fig = Figure(figsize=(width_in, height_in), layout="none")
        ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, xmax)
    ax.set_ylim(0, ymax)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def _box(ax, x, y, w, h, text="", *, colour=_INK, fill=_PALE, size=9, weight="normal", round_=0.08, lw=1.2,
         style="round"):
    """A box with its lower-left corner at (x, y); the text centred in it."""
    boxstyle = f"{style},pad=0,rounding_size={round_}" if style == "round" else "square,pad=0"
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=boxstyle, facecolor=fill, edgecolor=colour, lw=lw))
    if text:
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, fontweight=weight,
                color=_INK, linespacing=1.15)
    return (x, y, w, h)


def _arrow(ax, start, end, *, colour=_INK, style="-|>", ls="-", lw=1.2, rad=0.0, label=None, size=8,
           label_at=0.5, label_offset=(0.0, 0.12)):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=10, color=colour, lw=lw,
                                 linestyle=ls, connectionstyle=f"arc3,rad={rad}", shrinkA=2, shrinkB=2))
    if label:
        x = start[0] + (end[0] - start[0]) * label_at + label_offset[0]
        y = start[1] + (end[1] - start[1]) * label_at + label_offset[1]
        ax.text(x, y, label, ha="center", va="bottom", fontsize=size, color=colour)


def _queue(ax, x, y, slots, filled, *, colour, w=0.22, h=0.32):
    """A horizontal line of ``slots`` cells ending at the right at x, centred on y;
    the ``filled`` rightmost cells (the head of the line) are coloured."""
    for i in range(slots):
        cx = x - (i + 1) * w
        ax.add_patch(Rectangle((cx, y - h / 2), w, h, facecolor=colour if i < filled else "white",
                               edgecolor=_INK, lw=0.8, alpha=0.85 if i < filled else 1))


def _server(ax, x, y, name, *, colour, slots=None, busy=0, down=False, w=1.5, h=0.62):
    """A server box at (x, y) with its name and, if ``slots``, its work slots."""
    _box(ax, x, y, w, h, "", colour=colour, fill="white" if not down else "#DDDDDD", lw=1.4)
    ax.text(x + 0.1, y + h - 0.08, name, ha="left", va="top", fontsize=8, color=_INK)
    if slots:
        sw = min(0.22, (w - 0.2) / slots)
        for i in range(slots):
            ax.add_patch(Rectangle((x + 0.1 + i * sw, y + 0.08), sw * 0.85, 0.2,
                                   facecolor=colour if i < busy else "white", edgecolor=_INK, lw=0.6))
    if down:
        ax.plot([x, x + w], [y, y + h], color=COLOURS["lb"], lw=1.5)
        ax.plot([x, x + w], [y + h, y], color=COLOURS["lb"], lw=1.5)
    return (x, y, w, h)


def _left(b):
    return (b[0], b[1] + b[3] / 2)


def _right(b):
    return (b[0] + b[2], b[1] + b[3] / 2)


def cluster() -> Figure:
    """Clients, a load balancer with its own queue, four servers, health checks;
    one server has failed its health check and gets no requests."""
    fig, ax = _canvas(7.0, 3.6, 14.0, 7.2)
    lb_colour = COLOURS["lb"]
    clients = [_box(ax, 0.2, 5.3 - 1.4 * i, 1.6, 0.7, f"client {i + 1}", size=8.5) for i in range(4)]
    ax.text(1.0, 6.35, "clients", ha="center", fontsize=9.5, fontweight="bold", color=_INK)
    lb = _box(ax, 4.0, 1.7, 2.6, 3.1, "", colour=lb_colour, fill="white", lw=1.6)
    ax.text(5.3, 4.55, "load balancer", ha="center", va="top", fontsize=9.5, fontweight="bold", color=_INK)
    ax.text(5.3, 4.1, "picks a server\n(least connections,\nround robin, ...)", ha="center", va="top", fontsize=7.5,
            color=_INK)
    _queue(ax, 6.4, 2.75, 7, 4, colour=COLOURS["lb_queue"], w=0.28, h=0.36)
    ax.text(5.3, 2.45, "its queue: requests\nwaiting for a connection", ha="center", va="top", fontsize=7,
            color=_INK)
    for c in clients:
        _arrow(ax, _right(c), (lb[0], lb[1] + lb[3] / 2 + (_right(c)[1] - 3.5) * 0.3))
    ax.text(3.0, 6.2, "requests in,\nanswers back", ha="center", va="center", fontsize=7.5, color=_INK)
    servers = []
    for i in range(4):
        down = i == 3
        servers.append(_server(ax, 10.2, 5.7 - 1.6 * i, f"server {i + 1}" + ("  (down)" if down else ""),
                               colour=lb_colour, slots=4, busy=(3, 4, 2, 0)[i], down=down, w=2.2, h=0.8))
    for i, s in enumerate(servers):
        target = _left(s)
        if i < 3:
            _arrow(ax, (lb[0] + lb[2], lb[1] + lb[3] / 2 + 0.6), (target[0], target[1] + 0.15), colour=_INK)
        _arrow(ax, (lb[0] + lb[2], lb[1] + 0.9 - 0.22 * i), (target[0], target[1] - 0.2), colour=COLOURS["mq"],
               ls=(0, (3, 2)), lw=1.0, style="-|>")
    ax.text(8.4, 0.3, "dashed: health checks (the balancer polls each server; one that fails\n"
            "is taken out of the rotation until it answers again)", ha="center", va="bottom", fontsize=7.5,
            color=COLOURS["mq"])
    ax.text(11.3, 6.75, "slots: coloured = busy", ha="center", va="bottom", fontsize=7.5, color=_INK)
    return fig


def architectures() -> Figure:
    """The four architectures of the surge chapter, side by side, on the same four machines."""
    fig, axes = None, None
    with mpl.rc_context(BOOK_RC):
        fig = Figure(figsize=(7.0, 5.6), layout="none")
        axes = fig.subplots(2, 2, gridspec_kw=dict(left=0.01, right=0.99, bottom=0.01, top=0.99, wspace=0.04,
                                                   hspace=0.04))
    for ax in axes.flat:
        ax.set_xlim(0, 7.0)
        ax.set_ylim(0, 5.4)
        ax.set_aspect("equal")
        ax.axis("off")
    panels = dict(zip(("LB push", "LB + queue", "MQ", "Hybrid"), axes.flat))

    def frame(ax, name, subtitle):
        colour = _ARCH_COLOURS[name]
        ax.add_patch(FancyBboxPatch((0.05, 0.05), 6.9, 5.3, boxstyle="round,pad=0,rounding_size=0.15",
                                    facecolor="none", edgecolor=colour, lw=1.8))
        ax.text(0.3, 5.1, name, ha="left", va="top", fontsize=11, fontweight="bold", color=colour)
        ax.text(0.3, 4.62, subtitle, ha="left", va="top", fontsize=7.5, color=_INK)

    def machines(ax, colour, names, *, slots, busy, x=4.7, top=3.55, gap=1.0):
        return [_server(ax, x, top - gap * i, n, colour=colour, slots=slots, busy=b, w=2.0, h=0.7)
                for i, (n, b) in enumerate(zip(names, busy))]

    four = [f"machine {i + 1}" for i in range(4)]
    # LB push: everything pushed at once, a thread per request.
    ax = panels["LB push"]
    frame(ax, "LB push", "every request goes to a server at once;\nthreads share the CPU and the memory")
    c = _ARCH_COLOURS["LB push"]
    lb = _box(ax, 1.4, 1.6, 1.6, 1.0, "balancer", colour=c, fill="white", size=8.5)
    _arrow(ax, (0.3, 2.1), _left(lb), label="all jobs", size=7)
    ms = machines(ax, c, four, slots=7, busy=(7, 5, 6, 7))
    for m in ms:
        _arrow(ax, _right(lb), _left(m), colour=c)
    ax.text(2.2, 0.4, "no limit:\nmemory can run out", ha="center", va="bottom", fontsize=7, color=c)
    # LB + queue: at most k connections per server, the rest wait at the balancer.
    ax = panels["LB + queue"]
    c = _ARCH_COLOURS["LB + queue"]
    frame(ax, "LB + queue", "at most 4 open requests per server\n(HAProxy maxconn); the rest wait in line")
    lb = _box(ax, 1.4, 1.6, 1.6, 1.0, "balancer", colour=c, fill="white", size=8.5)
    _queue(ax, 3.0, 1.35, 6, 4, colour=c, w=0.26, h=0.3)
    ax.text(2.2, 0.95, "its queue", ha="center", va="top", fontsize=7, color=_INK)
    _arrow(ax, (0.3, 2.1), _left(lb), label="all jobs", size=7)
    ms = machines(ax, c, four, slots=4, busy=(4, 4, 4, 4))
    for m in ms:
        _arrow(ax, _right(lb), _left(m), colour=c)
    # MQ: one shared queue, consumers pull one message at a time.
    ax = panels["MQ"]
    c = _ARCH_COLOURS["MQ"]
    frame(ax, "MQ", "one queue in a broker; each machine pulls\none message at a time (prefetch 1)")
    _box(ax, 0.9, 1.45, 2.6, 1.3, "", colour=c, fill="white")
    ax.text(2.2, 2.62, "broker", ha="center", va="top", fontsize=8.5, color=_INK)
    _queue(ax, 3.3, 1.85, 8, 6, colour=c, w=0.28, h=0.34)
    _arrow(ax, (0.15, 2.1), (0.9, 2.1), label="all jobs", size=7, label_offset=(0.1, 0.12))
    ms = machines(ax, c, four, slots=1, busy=(1, 1, 1, 1))
    for m in ms:
        _arrow(ax, _left(m), (3.5, 2.1), colour=c, style="<|-", label=None)
    ax.text(3.3, 3.0, "consumers\npull", ha="center", va="bottom", fontsize=7.5, color=c)
    # Hybrid: light requests through a balancer to one API machine; heavy jobs queued for three consumers.
    ax = panels["Hybrid"]
    c = _ARCH_COLOURS["Hybrid"]
    frame(ax, "Hybrid", "light requests: a balancer, answered at once;\nheavy jobs: a queue, consumers pull")
    lb = _box(ax, 1.5, 3.3, 1.6, 0.7, "balancer", colour=COLOURS["lb"], fill="white", size=8)
    _box(ax, 1.2, 0.75, 2.3, 1.1, "", colour=COLOURS["mq"], fill="white")
    ax.text(2.35, 1.78, "broker", ha="center", va="top", fontsize=8, color=_INK)
    _queue(ax, 3.3, 1.15, 7, 5, colour=COLOURS["mq"], w=0.28, h=0.32)
    _arrow(ax, (0.2, 2.4), _left(lb), label="light", size=7, label_at=0.3, label_offset=(-0.25, 0.05))
    _arrow(ax, (0.2, 2.2), (1.2, 1.3), label="heavy", size=7, label_at=0.3, label_offset=(-0.3, -0.32))
    api = _server(ax, 4.7, 3.3, "machine 1 (API)", colour=COLOURS["lb"], slots=7, busy=2, w=2.0, h=0.7)
    _arrow(ax, _right(lb), _left(api), colour=COLOURS["lb"])
    workers = [_server(ax, 4.7, 2.2 - 0.95 * i, f"machine {i + 2}", colour=COLOURS["mq"], slots=1, busy=1,
                       w=2.0, h=0.7) for i in range(3)]
    for m in workers:
        _arrow(ax, _left(m), (3.5, 1.15), colour=COLOURS["mq"], style="<|-")
    return fig


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width))


def flowchart(root=decision.FLOWCHART) -> Figure:
    """The decision flowchart: the questions down the left, each answer that ends
    the walk to the right of its question, the last question's other answer below.

    Drawn for a chain (every question has at most one question below it), which
    is the shape of :data:`mqlb.decision.FLOWCHART`.
    """
    chain = []
    node = root
    while isinstance(node, decision.Question):
        if isinstance(node.yes, decision.Question) and isinstance(node.no, decision.Question):
            raise ValueError("flowchart draws a chain of questions; this question has two questions below it: "
                             f"{node.text!r}")
        chain.append(node)
        node = node.yes if isinstance(node.yes, decision.Question) else node.no
    if not chain:
        raise ValueError("flowchart needs at least one question, got a single leaf")
    rows = len(chain) + 1
    row_h = 1.55
    fig, ax = _canvas(7.0, 0.62 * row_h * rows + 0.3, 11.3, row_h * rows + 0.5)
    qx, qw, qh = 0.2, 4.6, 1.05
    lx, lw = 6.1, 5.0

    def leaf_box(leaf, x, y, w):
        colour = _ARCH_COLOURS.get(leaf.answer, _INK)
        fill = "white" if leaf.answer else _PALE
        return _box(ax, x, y, w, qh, _wrap(leaf.advice, 48 if w > 4 else 40), colour=colour, fill=fill, size=8,
                    lw=2.0 if leaf.answer else 1.2)

    for i, q in enumerate(chain):
        y = row_h * (rows - 1 - i) + 0.3
        box = _box(ax, qx, y, qw, qh, _wrap(q.text, 36), colour=_INK, fill="#E8F0F8", size=8.5, weight="bold")
        last = i == len(chain) - 1
        side_answer = "yes" if isinstance(q.yes, decision.Leaf) and (last or isinstance(q.no, decision.Question)) \
            else "no"
        side = q.yes if side_answer == "yes" else q.no
        down = q.no if side_answer == "yes" else q.yes
        leaf = leaf_box(side, lx, y, lw)
        _arrow(ax, _right(box), _left(leaf), label=side_answer, size=8.5, label_offset=(0, 0.05))
        below = (qx + qw / 2, y - (row_h - qh))
        _arrow(ax, (qx + qw / 2, y), below, label=None)
        ax.text(qx + qw / 2 + 0.12, y - (row_h - qh) / 2, "no" if side_answer == "yes" else "yes", ha="left",
                va="center", fontsize=8.5, color=_INK)
        if last:
            leaf_box(down, qx, 0.3, qw + 0.8)
    return fig
