"""Progress bars: text bars everywhere, rate-limited where no terminal reads them."""

from __future__ import annotations

import importlib
import io
import re
import warnings
from pathlib import Path

from tqdm.std import TqdmWarning

import fashionbench
from fashionbench.core.progress import NON_TTY_MININTERVAL, progress_bar

PACKAGE = Path(fashionbench.__file__).parent


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_non_terminal_stream_refreshes_rarely():
    out = io.StringIO()
    for _ in progress_bar(range(5000), file=out, desc="x"):
        pass
    assert progress_bar(range(1), file=io.StringIO()).mininterval == NON_TTY_MININTERVAL
    # a fast loop writes the opening and the closing state only, not one line per refresh
    assert len(re.findall(r"\r", out.getvalue())) <= 3, out.getvalue()
    assert "5000/5000" in out.getvalue()


def test_terminal_keeps_tqdm_default_and_explicit_interval_wins():
    assert progress_bar(range(1), file=_Terminal()).mininterval == 0.1
    assert progress_bar(range(1), file=io.StringIO(), mininterval=0.5).mininterval == 0.5


def test_package_never_uses_tqdm_auto():
    """tqdm.auto picks the widget bar in a kernel (ipywidgets is not installed: 'IProgress not found')."""
    users = [p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py")
             if re.search(r"^\s*(from|import) tqdm(\.auto|\.notebook|\.autonotebook)?\b(?!\.std)",
                          p.read_text(), re.M) and p.name != "progress.py"]
    assert users == [], f"use fashionbench.progress.progress_bar in {users}"


def test_widget_hint_is_silenced_and_other_tqdm_warnings_are_not():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        importlib.reload(fashionbench)  # installs its filter inside this context
        warnings.warn("IProgress not found. Please update jupyter and ipywidgets.", TqdmWarning)
        warnings.warn("something else", TqdmWarning)
    assert [str(w.message) for w in seen] == ["something else"]
