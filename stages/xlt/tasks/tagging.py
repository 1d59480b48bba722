"""Word tagging (UD-POS, PAN-X NER): ``{"id", "lang", "tokens": [words], "tags": [int per word]}``. As XTREME: the
tag of a word sits on its first sub-token; the word's other sub-tokens and the special tokens carry no label (-100)
and are left out of the loss; a linear head over every token; cross-entropy; the prediction one tag per word, read
at each word's first sub-token. A sentence longer than the window is cut: the words past it get no prediction (-1),
which scores as wrong (rare at 256 tokens; XTREME cuts at 128 the same way)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn
from torch.nn import functional as F

from .collate import IGNORED_LABEL as IGNORED  # no label: later sub-tokens of a word, special tokens, padding
from .family import SingleWindowFamily, require_fields, require_labels

NOT_PREDICTED = -1  # a word cut off by the window


def _encode(examples: Sequence[dict], tokenizer, max_length: int, with_labels: bool) -> list[dict]:
    for example in examples:
        require_fields(example, ("id", "tokens") + (("tags",) if with_labels else ()), "tagging")
        if with_labels and len(example["tags"]) != len(example["tokens"]):
            raise ValueError(f"tagging example {example['id']!r} has {len(example['tokens'])} words but "
                             f"{len(example['tags'])} tags")
    encoded = tokenizer([list(e["tokens"]) for e in examples], is_split_into_words=True, truncation=True,
                        max_length=max_length, padding=False)
    features = []
    for i, example in enumerate(examples):
        words = encoded.word_ids(i)
        first = [k for k, w in enumerate(words) if w is not None and (k == 0 or words[k - 1] != w)]
        feature = {"input_ids": encoded["input_ids"][i], "example_index": i,
                   "word_positions": [(words[k], k) for k in first]}  # (word index, its first sub-token)
        if with_labels:
            labels = [IGNORED] * len(words)
            for word, k in feature["word_positions"]:
                labels[k] = int(example["tags"][word])
            feature["token_labels"] = labels
        features.append(feature)
    return features


class TokenTagging(SingleWindowFamily):
    name = "tagging"

    encode = staticmethod(_encode)

    def head(self, hidden_size, num_labels, dropout):
        require_labels(self.name, num_labels)
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_size, num_labels))

    def logits(self, head, hidden, batch):
        return head(hidden)  # (B, L, labels)

    def loss(self, logits, batch):
        labels = batch["token_labels"]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORED)

    def decode(self, examples, features, outputs):
        out = {}
        for feature, logits in zip(features, outputs, strict=True):
            example = examples[feature["example_index"]]
            tags = [NOT_PREDICTED] * len(example["tokens"])
            for word, k in feature["word_positions"]:
                tags[word] = int(np.argmax(logits[k]))
            out[example["id"]] = tags
        return out
