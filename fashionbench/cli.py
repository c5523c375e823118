"""Small command-line helpers.

Usage: ``python -m fashionbench.cli set-profile tiny`` (set ``profile:`` in params.yaml) and
``python -m fashionbench.cli check [--params PATH]`` (validate params.yaml against the schema of
:mod:`fashionbench.core.settings` under every profile; exit 2 naming each bad key).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from fashionbench.core.atomic import write_text
from fashionbench.core.config import load_params, project_root
from fashionbench.core.errors import ConfigError

_PROFILE_LINE = re.compile(r"^profile:[^\n#]*", re.M)


def set_profile(name: str, params_file: Path | None = None) -> None:
    """Set ``profile:`` in params.yaml (keeping its comments); unknown names are an error."""
    path = params_file or project_root() / "params.yaml"
    params = load_params(path)
    if name not in params["profiles"]:
        raise ConfigError(f"profile: unknown profile {name!r}; defined in {path}: {sorted(params['profiles'])}")
    text = path.read_text(encoding="utf-8")
    new, n = _PROFILE_LINE.subn(f"profile: {name}            ", text, count=1)
    if n != 1:
        raise ConfigError(f"{path}: no top-level 'profile:' line to change")
    write_text(path, new)


def check(params_file: Path | None = None) -> int:
    """Validate params.yaml; print a one-line summary (exit 0) or every problem (exit 2)."""
    from fashionbench.core import settings

    path = params_file or project_root() / "params.yaml"
    try:
        params = settings.check_file(path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{Path(path).name}: valid ({settings.summary(params)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["check"] and (len(args) == 1 or (len(args) == 3 and args[1] == "--params")):
        return check(Path(args[2]) if len(args) == 3 else None)
    if len(args) == 2 and args[0] == "set-profile":
        try:
            set_profile(args[1])
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"profile set to {args[1]}")
        return 0
    print("usage: python -m fashionbench.cli set-profile tiny|default|paper\n"
          "       python -m fashionbench.cli check [--params PATH]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
