"""The perturbation families per input kind, their knobs and the knobs' defaults: pure data, no imports.

Kept import-free so a params schema can validate perturbation conditions without importing the perturbation code
(sacrebleu, regex, the word segmenters). ``stages.xlt.perturbations.family_parameters`` reads the same names and
defaults from the family functions' signatures; a test checks that the two agree.

Kinds (what one input example is):
* ``qa``: ``{"id", "lang", "question", "context", "answers": {"text", "answer_start"}, ...}`` (XQuAD, MLQA);
* ``pair``: ``{"id", "lang", "text_a", "text_b", "label", ...}`` (XNLI premise/hypothesis, PAWS-X sentences);
* ``sentence``: ``{"id", "lang", "text", ...}`` (a lone sentence, e.g. Tatoeba's non-English side).

Sequences are tuples here; a params file may give them as lists.
"""

from __future__ import annotations

KINDS: tuple[str, ...] = ("qa", "pair", "sentence")

# The name of the unperturbed test condition (no perturbation condition may take it).
CLEAN = "clean"

# The fields a family may edit, per kind (``fields`` knobs take a non-empty subset).
FIELDS: dict[str, tuple[str, ...]] = {
    "qa": ("question", "context"),
    "pair": ("text_a", "text_b"),
    "sentence": ("text",),
}

KNOBS: dict[str, dict[str, dict[str, object]]] = {
    "qa": {
        "typos": {"rate": 0.15, "fields": ("question", "context")},
        "distractor": {"position": "end"},
        "codeswitch_question": {"question_lang": "en"},
        "codeswitch_words": {"rate": 0.5, "target_lang": "en", "min_words": 1},
    },
    "pair": {
        "typos": {"rate": 0.15, "fields": ("text_a", "text_b")},
        "codeswitch_words": {"rate": 0.5, "target_lang": "en", "min_words": 1, "fields": ("text_a", "text_b")},
        "tautology": {},
        "length_mismatch": {"repeats": 5},
    },
    "sentence": {
        "typos": {"rate": 0.15},
        "codeswitch_words": {"rate": 0.5, "target_lang": "en", "min_words": 1},
    },
}

# Knobs whose value is one of a fixed set (``fields`` is checked against FIELDS[kind]).
CHOICES: dict[str, tuple[str, ...]] = {
    "position": ("start", "end", "random"),
}

# Pair families that need to know the task (``perturb_examples(..., task=...)``): NLI or paraphrase.
TASKS: tuple[str, ...] = ("nli", "paraphrase")
TASK_ALIASES: dict[str, str] = {"nli": "nli", "xnli": "nli", "paraphrase": "paraphrase", "pawsx": "paraphrase"}
TASK_FAMILIES: tuple[str, ...] = ("tautology", "length_mismatch")

# The model-aware attack (not a family: it needs a model) and its transformations.
ATTACK_TRANSFORMATIONS: tuple[str, ...] = ("typo", "lexicon")
