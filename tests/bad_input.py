"""Helpers of the bad-input test modules (tests/test_bad_input_*.py, the hardening issue).

Each case feeds one bad input to a public reader, writer or function and asserts the error type and
that its message names what a user must fix (the file, row or key). A known gap, an input that does
not give such an error yet, is a case marked ``known_gap(...)``: a strict xfail, so the day it is
fixed the test fails until the marker goes. docs/reliability.md counts both kinds.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest


def expect(fn: Callable[[], Any], exc: type[BaseException], *names: str) -> None:
    """``fn()`` raises ``exc`` whose message contains every one of ``names``."""
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    missing = [n for n in names if n not in msg]
    assert not missing, f"{exc.__name__} message {msg!r} does not name {missing}"


def known_gap(why: str, raises: tuple[type[BaseException], ...] = ()) -> pytest.MarkDecorator:
    """A bad input that does not yet give a clear error (strict xfail: it must keep failing). Only the
    gap's own failures count: no error at all, a message that does not name what it must (both
    AssertionError-like), or one of ``raises`` (the raw error given today); any other error, such as
    a slip in the test's setup, fails the test."""
    return pytest.mark.xfail(strict=True, reason=f"known gap (hardening issue): {why}",
                             raises=(pytest.fail.Exception, AssertionError, *raises))
