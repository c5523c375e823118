"""Progress bars for long work: plain text bars (``tqdm.std``), rate-limited where no terminal reads them.

``tqdm.auto`` would pick the widget bar inside a Jupyter kernel; that needs ipywidgets, which is not
a dependency (a rendered widget needs JavaScript that the offline reports must not load), and without
it every bar starts with the warning "IProgress not found". In a kernel run by papermill stderr is
not a terminal and every refresh becomes one more output of the saved notebook (thousands per
training stage), so there a bar refreshes at most every ``NON_TTY_MININTERVAL`` seconds.
"""

from __future__ import annotations

import sys
from typing import Any, Iterable

from tqdm.std import tqdm

NON_TTY_MININTERVAL = 10.0


def progress_bar(iterable: Iterable[Any] | None = None, **kwargs: Any) -> tqdm:
    """A ``tqdm.std.tqdm`` bar; where its stream is not a terminal, ``mininterval`` defaults to 10 s."""
    stream = kwargs.get("file") or sys.stderr
    try:
        interactive = bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or minimal stream
        interactive = False
    if not interactive:
        kwargs.setdefault("mininterval", NON_TTY_MININTERVAL)
    return tqdm(iterable, **kwargs)
