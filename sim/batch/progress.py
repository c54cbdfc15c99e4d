"""Progress bars of batches: one for every long call, in a terminal or a notebook.

Every function that runs batches (:func:`sim.batch.runner.run`, :func:`sim.analysis.compare.compare`,
:func:`sim.analysis.sweep.sweep`, the sensitivity functions) takes ``progress``: ``True`` (the
default) shows a bar once the call has taken a second, ``False`` or ``None`` shows none, and a
function is called with the replications finished so far instead. Bars come from ``tqdm.auto``, so a
notebook shows a widget and a terminal a line on stderr; where stderr is not a terminal (logs, CI)
there is none.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: What ``progress=`` accepts: show a bar (True), show none (False, None), or report to a function.
Progress = bool | Callable[[int], None] | None

#: Seconds a call runs before its bar appears: short calls stay quiet.
DELAY_S = 1.0


@contextmanager
def progress_callback(progress: Progress, total: int, unit: str = "run") -> Iterator[Callable[[int], None] | None]:
    """The function to call with the work finished so far, for a ``progress=`` argument.

    Args:
        progress: True for a bar, False or None for none, or a function to pass through unchanged.
        total: The work the call will do (replications, or sample rows).
        unit: What one unit of work is, for the bar's label.

    Yields:
        A function taking the count finished so far, or None when nothing is to be shown.
    """
    if callable(progress):
        yield progress
        return
    if not progress:
        yield None
        return
    from tqdm.auto import tqdm

    options: dict[str, object] = {"total": total, "unit": unit, "delay": DELAY_S, "leave": False}
    if not _in_notebook(tqdm):
        # disable=None: no bar where stderr is not a terminal (logs, CI). A notebook's stderr is never one.
        options.update(file=sys.stderr, disable=None)
    bar = tqdm(**options)
    done = 0

    def update(finished: int) -> None:
        nonlocal done
        bar.update(finished - done)
        done = finished

    try:
        yield update
    finally:
        bar.close()


def _in_notebook(tqdm_class: type) -> bool:
    notebook = sys.modules.get("tqdm.notebook")
    return notebook is not None and issubclass(tqdm_class, notebook.tqdm_notebook)
