"""Small command-line helpers.

Usage: ``python -m fashionbench.cli set-profile tiny`` (set ``profile:`` in params.yaml) and
``python -m fashionbench.cli check [--params PATH]`` (validate params.yaml against the schema of
:mod:`fashionbench.core.settings` under every profile; exit 2 naming each bad key) and
``python -m fashionbench.cli prune-lock [--dry-run]`` (drop from ``dvc.lock`` the stages that
``dvc.yaml`` no longer defines, e.g. a removed row's, and delete their outputs; ``make repro`` runs it).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from fashionbench.core.atomic import write_text
from fashionbench.core.config import project_root
from fashionbench.core.errors import ConfigError

_PROFILE_LINE = re.compile(r"^profile:[^\n#]*", re.M)


def set_profile(name: str, params_file: Path | None = None) -> None:
    """Set ``profile:`` in params.yaml (keeping its comments); a name not under ``profiles:`` is an
    error. Only the ``profiles:`` mapping is read, so a file whose current ``profile:`` is invalid
    can be repaired with this command."""
    import yaml

    path = Path(params_file or project_root() / "params.yaml")
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: params file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    profiles = raw.get("profiles") if isinstance(raw, dict) else None
    if not isinstance(profiles, dict) or not profiles:
        raise ConfigError(f"{path}: no 'profiles:' mapping to choose a profile from")
    if name not in profiles:
        raise ConfigError(f"{path}: profile: unknown profile {name!r}; defined under 'profiles:': {sorted(profiles)}")
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


def prune_lock(root: Path, stages: set[str] | list[str], dry_run: bool = False) -> list[str]:
    """Drop from ``root/dvc.lock`` every stage not in ``stages`` (the stages ``dvc.yaml`` defines now)
    and delete those stages' outputs that no remaining stage also declares. DVC keeps a removed
    row's lock entries and leaves its metrics, pages and models behind, where they would read as
    results of this run. Returns what was (or, with ``dry_run``, would be) removed: stage names,
    then output paths. An output path outside ``root`` is refused (ConfigError) before anything changes."""
    import shutil

    from ruamel.yaml import YAML

    lock_path = Path(root) / "dvc.lock"
    yaml = YAML()
    yaml.preserve_quotes = True
    lock = yaml.load(lock_path.read_text(encoding="utf-8"))
    entries = lock.get("stages", {}) if lock else {}
    stale = [name for name in entries if name not in set(stages)]
    kept = {o["path"] for name, e in entries.items() if name not in stale for o in e.get("outs", [])}
    base = Path(root).resolve()
    doomed = []
    for name in stale:
        for o in entries[name].get("outs", []):
            target = (base / o["path"]).resolve()
            if not target.is_relative_to(base) or target == base:
                raise ConfigError(f"{lock_path}: stage {name!r} declares output {o['path']!r} outside the project")
            if o["path"] not in kept and (target.exists() or target.is_symlink()):
                doomed.append((o["path"], target))
    if not dry_run and stale:
        for name in stale:
            del entries[name]
        import io

        buf = io.StringIO()
        yaml.dump(lock, buf)
        write_text(lock_path, buf.getvalue())
        for _, target in doomed:
            shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
    return stale + [p for p, _ in doomed]


def _current_stages(root: Path) -> set[str]:
    """The stage names ``dvc.yaml`` defines now (``dvc stage list --name-only``, foreach expanded)."""
    import subprocess

    beside = Path(sys.executable).parent / "dvc"     # the venv's dvc, as `make` runs it
    dvc = str(beside) if beside.is_file() else "dvc"
    res = subprocess.run([dvc, "stage", "list", "--name-only"], cwd=root, capture_output=True, text=True)
    if res.returncode != 0:
        raise ConfigError(f"dvc stage list failed in {root}: {res.stderr.strip()[-500:]}")
    names = set(res.stdout.split())
    if not names:
        raise ConfigError(f"dvc stage list found no stage in {root}: refusing to prune every lock entry")
    return names


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
    if args[:1] == ["prune-lock"] and args[1:] in ([], ["--dry-run"]):
        root = project_root()
        try:
            gone = prune_lock(root, _current_stages(root), dry_run=bool(args[1:]))
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        verb = "would remove" if args[1:] else "removed"
        print(f"prune-lock: {verb} {len(gone)} stale stage(s) and output(s)" + "".join(f"\n  {g}" for g in gone))
        return 0
    print("usage: python -m fashionbench.cli set-profile tiny|default|paper\n"
          "       python -m fashionbench.cli check [--params PATH]\n"
          "       python -m fashionbench.cli prune-lock [--dry-run]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
