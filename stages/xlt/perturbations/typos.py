"""Family ``typos``: script-aware character noise (swap adjacent, drop, insert, substitute), for every kind.

Eligible units are words of >= 2 grapheme clusters in a supported script (Latin, Cyrillic, Greek, Arabic,
Devanagari), and every Thai or Han word (one Chinese character can be a word); Thai and Chinese words come from
the dictionary segmenters (see ``stages.xlt.segment``). ``rate`` is the fraction of eligible units edited
(stochastically rounded per text, so short questions still get edits on average); each edited unit gets one edit.
Edits move or drop whole grapheme clusters, so marks stay on a base letter, and new letters come from the same
script: a keyboard neighbour for Latin (QWERTY), Cyrillic (JCUKEN) and Greek, else a nearby letter of the script's
alphabet (Arabic letters, Devanagari consonants, Thai consonants, CJK ideographs).
QA: ``fields`` among question/context; the context is edited only outside the gold answers, whose offsets are
re-mapped. Pair: ``fields`` among text_a/text_b (the label is untouched). Sentence: the text.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from .context import PerturbationContext
from .knobs import FIELDS
from .rng import check_rate, example_rng, stochastic_round
from .spans import check_answers, edit_outside_answers
from .strength import with_record
from .text_units import SUPPORTED_SCRIPTS, Unit, char_script, word_units

FAMILY = "typos"
OPERATIONS = ("swap", "drop", "insert", "substitute")

KEYBOARD_ROWS: dict[str, tuple[str, ...]] = {
    "Latin": ("qwertyuiop", "asdfghjkl", "zxcvbnm"),
    "Cyrillic": ("йцукенгшщзхъ", "фывапролджэ", "ячсмитьбю"),
    "Greek": (";ςερτυθιοπ", "ασδφγηξκλ", "ζχψωβνμ"),
}
# Alphabets for scripts without a standard keyboard map here: a substitute is a letter near the original in them.
_ALPHABETS: dict[str, str] = {
    "Arabic": "".join(chr(c) for c in range(0x0621, 0x064B) if c != 0x0640),
    "Devanagari": "".join(chr(c) for c in range(0x0915, 0x093A)),
    "Thai": "".join(chr(c) for c in range(0x0E01, 0x0E2F)),
}
_ALPHABET_RADIUS = 3


def keyboard_neighbours(rows: tuple[str, ...]) -> dict[str, str]:
    grid = {(r, i): ch for r, row in enumerate(rows) for i, ch in enumerate(row)}
    neighbours: dict[str, str] = {}
    for (r, i), ch in grid.items():
        near = [(r, i - 1), (r, i + 1), (r - 1, i), (r - 1, i + 1), (r + 1, i - 1), (r + 1, i)]
        neighbours[ch] = "".join(grid[p] for p in near if p in grid and grid[p].isalpha())
    return neighbours


_KEYBOARDS = {script: keyboard_neighbours(rows) for script, rows in KEYBOARD_ROWS.items()}


def _codepoint_neighbours(char: str, script: str) -> str:
    """Letters a few code points away with the same script and the same case/category (e.g. Vietnamese ế -> ề)."""
    found = []
    for delta in range(-_ALPHABET_RADIUS, _ALPHABET_RADIUS + 1):
        code = ord(char) + delta
        if delta and 0 < code < 0x110000:
            other = chr(code)
            if other.isalpha() and char_script(other) == script and other.isupper() == char.isupper():
                found.append(other)
    return "".join(found)


def neighbour_letters(char: str, script: str) -> str:
    """Same-script letters a typist (or an OCR/ASR slip) could produce instead of ``char``."""
    keyboard = _KEYBOARDS.get(script, {})
    if char.lower() in keyboard:
        near = keyboard[char.lower()]
        return near.upper() if char.isupper() else near
    alphabet = _ALPHABETS.get(script)
    if alphabet is not None:
        if char in alphabet:
            i = alphabet.index(char)
            return "".join(a for a in alphabet[max(0, i - _ALPHABET_RADIUS):i + _ALPHABET_RADIUS + 1] if a != char)
        return ""  # e.g. a Devanagari independent vowel: substituting a consonant for it would misspell oddly
    return _codepoint_neighbours(char, script)


def _edit_swap(parts: list[str], rng: random.Random, script: str) -> list[str] | None:
    pairs = [i for i in range(len(parts) - 1) if parts[i] != parts[i + 1]]
    if not pairs:
        return None
    i = rng.choice(pairs)
    return parts[:i] + [parts[i + 1], parts[i]] + parts[i + 2:]


def _edit_drop(parts: list[str], rng: random.Random, script: str) -> list[str] | None:
    if len(parts) < 2:
        return None
    i = rng.randrange(len(parts))
    return parts[:i] + parts[i + 1:]


def _edit_insert(parts: list[str], rng: random.Random, script: str) -> list[str] | None:
    i = rng.randrange(len(parts))
    near = neighbour_letters(parts[i][0], script)
    if not near:
        return None
    j = i + rng.randrange(2)  # before or after the letter whose neighbour was hit
    return parts[:j] + [rng.choice(near)] + parts[j:]


def _edit_substitute(parts: list[str], rng: random.Random, script: str) -> list[str] | None:
    candidates = [i for i, part in enumerate(parts) if neighbour_letters(part[0], script)]
    if not candidates:
        return None
    i = rng.choice(candidates)
    # Only the base letter changes; the cluster's marks (accents, vowel signs) stay with the new base.
    new_cluster = rng.choice(neighbour_letters(parts[i][0], script)) + parts[i][1:]
    return parts[:i] + [new_cluster] + parts[i + 1:]


_EDITS = {"swap": _edit_swap, "drop": _edit_drop, "insert": _edit_insert, "substitute": _edit_substitute}


def edit_unit(unit: Unit, rng: random.Random) -> tuple[str, str] | None:
    """One random edit of ``unit``: (new text, operation), or None when no operation changes it."""
    operations = list(OPERATIONS)
    rng.shuffle(operations)
    for operation in operations:
        parts = _EDITS[operation](list(unit.clusters), rng, unit.script)
        if parts is not None and "".join(parts) != "".join(unit.clusters):
            return "".join(parts), operation
    return None


def eligible_units(text: str, lang: str) -> list[Unit]:
    return [u for u in word_units(text, lang) if u.script in SUPPORTED_SCRIPTS
            and (len(u.clusters) >= 2 or u.script in ("Thai", "Han"))]


def typo_text(text: str, rate: float, rng: random.Random, *, lang: str, counts: dict[str, int] | None = None) -> str:
    """``text`` with a ``rate`` fraction of its eligible units edited once each."""
    units = eligible_units(text, lang)
    chosen = sorted(rng.sample(range(len(units)), min(len(units), stochastic_round(rate * len(units), rng))))
    pieces, cursor = [], 0
    for index in chosen:
        unit = units[index]
        edited = edit_unit(unit, rng)
        if edited is None:
            continue
        pieces.append(text[cursor:unit.start] + edited[0])
        cursor = unit.end
        if counts is not None:
            counts[edited[1]] = counts.get(edited[1], 0) + 1
    pieces.append(text[cursor:])
    return "".join(pieces)


def check_fields(fields: Iterable[str] | str, kind: str, family: str = FAMILY) -> tuple[str, ...]:
    fields = (fields,) if isinstance(fields, str) else tuple(fields)
    allowed = FIELDS[kind]
    if not fields or any(f not in allowed for f in fields) or len(set(fields)) != len(fields):
        raise ValueError(f"{family}: fields must be a non-empty subset of {allowed}, got {fields!r}")
    return fields


def _typo_example(example: dict, *, seed: int, rate: float, fields: tuple[str, ...], kind: str) -> dict:
    counts: dict[str, int] = {}
    out, lang = dict(example), example["lang"]
    for field in fields:
        rng = example_rng(seed, FAMILY, example["id"], field)
        if field == "context":
            out = edit_outside_answers(out, lambda free: typo_text(free, rate, rng, lang=lang, counts=counts))
        elif example[field] is not None:
            out[field] = typo_text(example[field], rate, rng, lang=lang, counts=counts)
    details = {"rate": rate, **({"fields": list(fields)} if kind != "sentence" else {})}
    if out == example:
        details["reason"] = "rate is 0" if rate == 0 else "no eligible word was edited"
    return with_record(example, out, FAMILY, kind=kind, **details, edits=sum(counts.values()),
                       operations=dict(sorted(counts.items())))


def perturb_typos(examples: list[dict], *, seed: int, context: PerturbationContext | None = None,
                  rate: float, fields: Iterable[str] | str) -> list[dict]:
    """QA: typos at ``rate`` (fraction of eligible words edited) in the chosen ``fields``."""
    rate, fields = check_rate(rate), check_fields(fields, "qa")
    for example in examples:
        check_answers(example)
    return [_typo_example(example, seed=seed, rate=rate, fields=fields, kind="qa") for example in examples]


def perturb_pair_typos(examples: list[dict], *, seed: int, context: PerturbationContext | None = None,
                       rate: float, fields: Iterable[str] | str) -> list[dict]:
    """Sentence pairs: typos at ``rate`` in the chosen side(s) (``text_a``, ``text_b``)."""
    rate, fields = check_rate(rate), check_fields(fields, "pair")
    return [_typo_example(example, seed=seed, rate=rate, fields=fields, kind="pair") for example in examples]


def perturb_sentence_typos(examples: list[dict], *, seed: int, context: PerturbationContext | None = None,
                           rate: float) -> list[dict]:
    """Lone sentences: typos at ``rate`` in ``text``."""
    rate = check_rate(rate)
    return [_typo_example(example, seed=seed, rate=rate, fields=("text",), kind="sentence") for example in examples]
