"""Editing a context without touching its gold answers, and re-mapping ``answer_start`` afterwards.

The context is cut into protected blocks (the union of the answer spans, widened to grapheme-cluster boundaries so
no edit can split a cluster at an answer's edge) and free segments. Free segments are edited independently; each
answer's new offset is its block's new offset plus its offset inside the block, which never changes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from .text_units import cluster_boundaries


def check_answers(example: dict) -> None:
    """Raise if a gold answer does not sit at its ``answer_start`` (the invariant every family must keep)."""
    answers = example["answers"]
    if len(answers["text"]) != len(answers["answer_start"]):
        raise ValueError(f"example {example['id']!r}: answers.text and answers.answer_start differ in length")
    for text, start in zip(answers["text"], answers["answer_start"]):
        if example["context"][start:start + len(text)] != text:
            raise ValueError(
                f"example {example['id']!r}: answer {text!r} is not at context[{start}:{start + len(text)}]; "
                "fix the example's answer_start before perturbing it"
            )


def protected_blocks(context: str, answers: dict) -> list[tuple[int, int]]:
    """Merged answer spans, widened to grapheme-cluster boundaries."""
    bounds = cluster_boundaries(context)
    spans = sorted((s, s + len(t)) for t, s in zip(answers["text"], answers["answer_start"]) if t)
    blocks: list[tuple[int, int]] = []
    for start, end in spans:
        start = max(b for b in bounds if b <= start)
        end = min(b for b in bounds if b >= end)
        if blocks and start <= blocks[-1][1]:
            blocks[-1] = (blocks[-1][0], max(blocks[-1][1], end))
        else:
            blocks.append((start, end))
    return blocks


def edit_outside_answers(example: dict, edit: Callable[[str], str]) -> dict:
    """A copy of ``example`` whose context has ``edit`` applied to each stretch outside the answers."""
    context, answers = example["context"], example["answers"]
    blocks = protected_blocks(context, answers)
    pieces: list[str] = []
    new_block_start: dict[int, int] = {}
    cursor, length = 0, 0
    for start, end in blocks:
        free = edit(context[cursor:start])
        pieces.append(free)
        length += len(free)
        new_block_start[start] = length
        pieces.append(context[start:end])
        length += end - start
        cursor = end
    pieces.append(edit(context[cursor:]))
    new_starts = []
    for text, start in zip(answers["text"], answers["answer_start"]):
        block_start = next((b for b, e in blocks if b <= start and start + len(text) <= e and text), None)
        if block_start is None:  # empty answer text: keep it at the start of the nearest following stretch
            block_start = next((b for b, _ in blocks if b >= start), None)
            new_starts.append(new_block_start[block_start] if block_start is not None else length)
            continue
        new_starts.append(new_block_start[block_start] + start - block_start)
    out = copy.deepcopy(example)
    out["context"] = "".join(pieces)
    out["answers"]["answer_start"] = new_starts
    return out


def insertion_points(context: str, answers: dict, candidates: list[int]) -> list[int]:
    """The candidate offsets that do not fall strictly inside an answer."""
    spans = [(s, s + len(t)) for t, s in zip(answers["text"], answers["answer_start"])]
    return [p for p in candidates if not any(s < p < e for s, e in spans)]


def insert_text(example: dict, position: int, text: str) -> dict:
    """A copy of ``example`` with ``text`` inserted into the context at ``position`` (not inside an answer)."""
    answers = example["answers"]
    if insertion_points(example["context"], answers, [position]) != [position]:
        raise ValueError(f"example {example['id']!r}: cannot insert at {position}, it is inside a gold answer")
    out = copy.deepcopy(example)
    out["context"] = example["context"][:position] + text + example["context"][position:]
    out["answers"]["answer_start"] = [
        s + len(text) if s >= position and not (s == position and not t) else s
        for t, s in zip(answers["text"], answers["answer_start"])
    ]
    return out
