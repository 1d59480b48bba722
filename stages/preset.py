"""Switch the pipeline's scale: ``python -m stages.preset tiny|small|paper``.

Rewrites params.yaml with the chosen profile (comments included) and prints every key whose value changed,
so the switch is one reviewable diff. The same code path runs at every scale; only these params differ.

It never loses an edit: a params.yaml that is neither a preset nor what git last committed is left alone unless
``--force`` is given, and then it is first copied to ``params.yaml.<time>.bak``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from stages import params as schema
from stages.xlt.io import write_text

PRESETS = Path(__file__).with_name("presets")


def flatten(tree: object, prefix: str = "") -> dict[str, object]:
    if isinstance(tree, dict):
        out: dict[str, object] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): tree}


def changes(old: dict, new: dict) -> list[str]:
    before, after = flatten(old), flatten(new)
    lines = []
    for key in sorted(before.keys() | after.keys()):
        if before.get(key, "<absent>") != after.get(key, "<absent>"):
            lines.append(f"  {key}: {before.get(key, '<absent>')} -> {after.get(key, '<absent>')}")
    return lines


def _committed(path: Path) -> str | None:
    """The text git last committed at `path`, or None (not in a git repository, or never committed)."""
    try:
        shown = subprocess.run(["git", "show", f"HEAD:./{path.name}"], cwd=path.parent.resolve(), capture_output=True,
                               text=True, check=False)
    except FileNotFoundError:  # no git on this machine
        return None
    return shown.stdout if shown.returncode == 0 else None


def unsaved_edits(path: Path) -> bool:
    """Whether `path` holds text that exists nowhere else: neither a preset nor git's last commit of it."""
    if not path.exists():
        return False
    text = path.read_text(encoding="utf-8")
    presets = {p.read_text(encoding="utf-8") for p in PRESETS.glob("*.yaml")}
    return text not in presets and text != _committed(path)


def apply_preset(name: str, params_path: Path = Path("params.yaml"), force: bool = False) -> list[str]:
    if name not in schema.PROFILES:
        raise schema.ParamsError(f"unknown preset {name!r}: choose one of {list(schema.PROFILES)}")
    text = (PRESETS / f"{name}.yaml").read_text(encoding="utf-8")
    new = yaml.safe_load(text)
    schema.validate(new, PRESETS / f"{name}.yaml")  # a preset that fails validation is a bug: fail before writing
    if unsaved_edits(params_path):
        if not force:
            raise schema.ParamsError(f"{params_path} has edits that are neither a preset nor committed: commit "
                                     f"them, or add --force to replace it (a copy is kept as {params_path}.<time>.bak)")
        backup = params_path.with_name(f"{params_path.name}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
        shutil.copy2(params_path, backup)
        print(f"kept your edited {params_path} as {backup}")
    old = yaml.safe_load(params_path.read_text(encoding="utf-8")) if params_path.exists() else {}
    write_text(params_path, text)
    return changes(old or {}, new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", help="tiny | small | paper")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--force", action="store_true", help="replace a params.yaml with uncommitted edits "
                        "(after copying it to params.yaml.<time>.bak)")
    args = parser.parse_args(argv)
    try:
        lines = apply_preset(args.profile, args.params, args.force)
    except schema.ParamsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.params} now holds the {args.profile!r} profile; {len(lines)} value(s) changed:")
    print("\n".join(lines) if lines else "  (none)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
