"""How every rendered page displays numbers and figures: integers as integers, plot text >= 9 pt,
at most :data:`MAX_LINES` lines per panel with distinct colour + marker pairs, photo grids as JPEG.

Imports only pandas/matplotlib, so every stage notebook that renders a page (the detect stage
included) can use it without depending on the retrieval code.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

#: at most this many lines in one plot panel (more rows: the best ones by mAP, or small multiples)
MAX_LINES = 8
#: distinct colour + marker for line i < MAX_LINES of a panel
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_MARKERS = "osD^vP*X"


def line_style(i: int) -> dict[str, Any]:
    """Colour and marker of the ``i``-th line of a panel: all pairs differ for i < MAX_LINES."""
    return {"color": _COLOURS[i % len(_COLOURS)], "marker": _MARKERS[(i + i // len(_COLOURS)) % len(_MARKERS)]}


def _fmt_number(v: float) -> str:
    """Integers as integers; other floats with 4 decimals under 1 (scientific under 0.0001), 4 significant
    digits from 1 to 1,000, none above."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not np.isfinite(f):
        return str(f)
    if f.is_integer() and abs(f) < 1e15:
        return str(int(f))
    if abs(f) >= 1000:
        return f"{f:.0f}"
    if abs(f) >= 1:
        return f"{f:.4g}"
    return f"{f:.4f}" if abs(f) >= 1e-4 else f"{f:.2e}"


def use_display_defaults() -> None:
    """What every rendered page's notebook calls first: tables print integers as integers and other
    floats with 4 decimals, text cells whole (no "..." truncation); plot text is at least 9 pt."""
    pd.set_option("display.float_format", _fmt_number)
    pd.set_option("display.max_colwidth", None)     # hashes and commits whole, never "5d26b5..."
    plt.rcParams.update({"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "xtick.labelsize": 9,
                         "ytick.labelsize": 9, "legend.fontsize": 9, "legend.title_fontsize": 9,
                         "figure.titlesize": 10})


def show(fig: plt.Figure | None, jpeg: bool = False, quality: int = 75, dpi: int = 64) -> None:
    """Display ``fig`` in place and close it (None is skipped). ``jpeg``: as a JPEG image, for
    grids of photographs, whose PNG would be 5-10x larger in every committed report (at ``dpi``:
    a 64 px crop drawn 1.25 inches wide keeps its resolution; quality 75 keeps a
    method page near 0.15 MB)."""
    if fig is None:
        return
    from IPython.display import Image as IPImage
    from IPython.display import display

    if jpeg:
        buf = io.BytesIO()
        fig.savefig(buf, format="jpeg", dpi=dpi, pil_kwargs={"quality": quality})
        display(IPImage(data=buf.getvalue(), format="jpeg"))
    else:
        display(fig)
    plt.close(fig)
