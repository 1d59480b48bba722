"""What every stage does first: go offline where nothing must be downloaded, validate params, fix threads."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from stages.params import Params, ParamsError, load


def offline_hub(allow_downloads: bool = False) -> None:
    """Stages that must not touch the network say so before transformers/datasets are imported."""
    if not allow_downloads:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_params(path: str | Path = "params.yaml", notes: bool = False) -> Params:
    """Validate the whole file before any work; exit 2 with the schema's message on bad input. With `notes`,
    print what the settings leave out (a perturbation or attack target that is not evaluated, ...)."""
    try:
        params = load(path)
    except ParamsError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    if notes:
        for note in params.notes():
            print(f"note: {note}", file=sys.stderr)
    return params


def run_parser(description: str, *, target: bool = False, part: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--arm", required=True, help="an arm declared in intermediate.arms")
    parser.add_argument("--seed", required=True, type=int, help="a training seed listed in seeds")
    if target:
        parser.add_argument("--target", required=True, help="a fine-tuning task listed in transfer.targets")
    if part:
        parser.add_argument("--part", required=True, choices=("clean", "perturbed"), help="which test inputs")
    return parser


def check_run(params: Params, arm: str, seed: int) -> None:
    if arm not in params.intermediate.arms:
        print(f"error: arm {arm!r} is not declared in params.yaml intermediate.arms "
              f"({sorted(params.intermediate.arms)})", file=sys.stderr)
        raise SystemExit(2)
    if seed not in params.seeds:
        print(f"error: seed {seed} is not in params.yaml seeds {params.seeds}", file=sys.stderr)
        raise SystemExit(2)


def check_target(params: Params, target: str) -> None:
    if target not in params.transfer.targets:
        print(f"error: fine-tuning task {target!r} is not in params.yaml transfer.targets "
              f"({sorted(params.transfer.targets)})", file=sys.stderr)
        raise SystemExit(2)


def main_process() -> bool:
    """False on the non-zero ranks of a multi-process (accelerate/torchrun) launch."""
    return int(os.environ.get("RANK", "0")) == 0


def main_guard(main: Callable[[], None]) -> None:
    """Bad data or inputs end with one line naming the problem, not a traceback (XLT_DEBUG=1 shows it)."""
    try:
        main()
    except (ValueError, FileNotFoundError, ConnectionError) as err:
        if os.environ.get("XLT_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
