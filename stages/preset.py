"""Switch the pipeline's scale: ``python -m stages.preset tiny|small|paper``.

Rewrites params.yaml with the chosen profile (comments included) and prints every key whose value changed,
so the switch is one reviewable diff. The same code path runs at every scale; only these params differ.
"""

from __future__ import annotations

import argparse
import sys
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


def apply_preset(name: str, params_path: Path = Path("params.yaml")) -> list[str]:
    if name not in schema.PROFILES:
        raise schema.ParamsError(f"unknown preset {name!r}: choose one of {list(schema.PROFILES)}")
    text = (PRESETS / f"{name}.yaml").read_text(encoding="utf-8")
    new = yaml.safe_load(text)
    schema.validate(new, PRESETS / f"{name}.yaml")  # a preset that fails validation is a bug: fail before writing
    old = yaml.safe_load(params_path.read_text(encoding="utf-8")) if params_path.exists() else {}
    write_text(params_path, text)
    return changes(old or {}, new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", help="tiny | small | paper")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        lines = apply_preset(args.profile, args.params)
    except schema.ParamsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.params} now holds the {args.profile!r} profile; {len(lines)} value(s) changed:")
    print("\n".join(lines) if lines else "  (none)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
