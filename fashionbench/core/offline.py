"""Prepare the project-local folders that keep ultralytics and matplotlib offline.

Ultralytics downloads ``Arial.ttf`` on first use unless it finds it in its config folder: we
put matplotlib's DejaVuSans there under both names it looks for. Run by ``make install``; safe
to run again. Usage: ``python -m fashionbench.core.offline``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def font_source() -> Path:
    """matplotlib's bundled DejaVuSans.ttf."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def setup(config_dir: str | os.PathLike | None = None) -> Path:
    """Create ``$YOLO_CONFIG_DIR/Ultralytics`` with the fonts; return that folder."""
    base = Path(config_dir or os.environ.get("YOLO_CONFIG_DIR") or Path.cwd() / ".cache" / "ultralytics")
    folder = base / "Ultralytics"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        if not (folder / name).is_file():
            shutil.copyfile(font_source(), folder / name)
    mpl = os.environ.get("MPLCONFIGDIR")
    if mpl:
        Path(mpl).mkdir(parents=True, exist_ok=True)
    return folder


if __name__ == "__main__":
    print(f"offline assets ready in {setup()}")
