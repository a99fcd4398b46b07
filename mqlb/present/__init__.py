"""The book's presentation layer: what a chapter imports to show its experiments.

    from mqlb.present import COLOURS, decorate, explorer, g, md_table, use_book_style

- :mod:`~mqlb.present.notebook`: glue a value for the text (:func:`g`), a
  Markdown table (:func:`md_table`), numbers that never read "-0" (:func:`number`);
- :mod:`~mqlb.present.style`: the book's look (:func:`use_book_style`,
  :data:`COLOURS`, :func:`decorate`, :func:`fixed_axes`);
- :mod:`~mqlb.present.figures`: figures and tables several chapters draw (the
  surge timeline, a distribution function, pairs of bars, the surge scorecard);
- :mod:`~mqlb.present.explorer`: the declarative explorer, live in a kernel and
  precomputed in the built book.

The model (the rest of :mod:`mqlb`) never imports this package.
"""

from . import figures
from .explorer import explorer, rejection
from .notebook import g, md_table, number, outcome_table, show_table
from .style import ARCHITECTURE_COLOURS, BOOK_RC, COLOURS, FIGSIZE, decorate, fixed_axes, use_book_style

__all__ = ["ARCHITECTURE_COLOURS", "BOOK_RC", "COLOURS", "FIGSIZE", "decorate", "explorer", "figures",
           "fixed_axes", "g", "md_table", "number", "outcome_table", "rejection", "show_table", "use_book_style"]
