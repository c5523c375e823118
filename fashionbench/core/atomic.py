"""Write files and folders atomically: to a temporary name first, then rename.

A failure (exception, kill) in the middle of writing never leaves a half-written artifact
under the final name. A killed writer can leave its ``.tmp-<name>-<pid>-*`` sibling behind: the next
write of the same file removes those whose process is gone (:func:`remove_stale`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale(folder: str | os.PathLike, stem: str, suffix: str = "") -> list[Path]:
    """Remove the temporary files or folders ``.tmp-<stem>-<pid>-<8 chars><suffix>`` in ``folder`` whose
    writer process no longer runs (killed mid-write); returns what was removed. Live writers' stay."""
    folder = Path(folder)
    pattern = re.compile(r"^\.tmp-" + re.escape(stem) + r"-(\d+)-[a-z0-9_]{8}" + re.escape(suffix) + "$")
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for sib in folder.iterdir():
        m = pattern.match(sib.name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            if sib.is_dir() and not sib.is_symlink():
                shutil.rmtree(sib, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    sib.unlink()
            removed.append(sib)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary name keeps ``path``'s suffix (or ``suffix``) so that libraries which infer a
    format from the extension (numpy, pandas, matplotlib) behave the same.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sfx = suffix if suffix is not None else "".join(path.suffixes)
    remove_stale(path.parent, path.stem, sfx)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.stem}-{os.getpid()}-", suffix=sfx, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual file mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; swap it into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent, path.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}-{os.getpid()}-", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".old-{path.name}-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")
