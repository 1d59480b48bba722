"""A tiny random BERT encoder with an offline WordPiece tokenizer, plus toy task data, for the model-side tests.

Other test modules import the builders from here; the tests below check the fixture itself is sound.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu river mountain castle forest city "
         "king queen paris london berlin seventeen ninety blue green red").split()
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _sentences(seed: int = 0, n: int = 200) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 15))) + "." for _ in range(n)]


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    # A small vocabulary forces sub-word pieces, so word alignment and offsets are really exercised.
    tok.train_from_iterator(_sentences() + ["what which who where when how is the answer ?"],
                            trainers.WordPieceTrainer(vocab_size=120, special_tokens=SPECIALS))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=512,
                                   # BERT-style: segment ids are model inputs (transformers 5 omits them by default)
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"])


def build_tiny_encoder(out_dir: Path, seed: int = 0) -> Path:
    """A random 2-layer, hidden-32 BERT encoder folder (config + safetensors + fast tokenizer)."""
    import torch
    from transformers import BertConfig, BertModel

    tokenizer = build_tokenizer()
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config, add_pooling_layer=False)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def qa_examples(n: int, seed: int = 0, min_words: int = 8, max_words: int = 60) -> list[dict]:
    """Contexts of random words; the question names the word after the answer's marker word 'castle'."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        words = [rng.choice(WORDS[:26]) for _ in range(rng.randint(min_words, max_words))]
        position = rng.randrange(1, len(words))
        words[position - 1] = "castle"
        answer = rng.choice(["paris", "london", "berlin", "king queen", "river mountain forest"])
        words[position] = answer
        prefix = " ".join(words[:position]) + " "
        context = " ".join(words)
        examples.append({"id": f"q{i}", "lang": "en", "article": "toy", "context": context,
                         "question": "what is the castle ?",
                         "answers": {"text": [answer], "answer_start": [len(prefix)]}})
    return examples


def classification_examples(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = rng.randint(0, 1)
        colour = "blue" if label else "red"
        out.append({"id": f"c{i}", "lang": "en", "text_a": f"{colour} {rng.choice(WORDS[:26])} river",
                    "text_b": None if i % 3 == 0 else rng.choice(WORDS[:26]), "label": label})
    return out


def choice_examples(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        choices = [" ".join(rng.choice(WORDS[:26]) for _ in range(rng.randint(1, 4))) for _ in range(4)]
        label = rng.randrange(4)
        choices[label] = "paris " + choices[label]
        out.append({"id": f"m{i}", "lang": "en", "context": "where is the castle ?", "choices": choices,
                    "label": label})
    return out


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny_encoder"))


def test_tiny_tokenizer_round_trips_offsets_and_pairs(tiny_encoder_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    assert tokenizer.is_fast and tokenizer.cls_token_id is not None
    enc = tokenizer("what is it ?", "Paris Castle river.", return_offsets_mapping=True)
    assert enc["input_ids"][0] == tokenizer.cls_token_id
    seq = enc.sequence_ids()
    n_question, n_context = seq.count(0), seq.count(1)
    assert seq == [None] + [0] * n_question + [None] + [1] * n_context + [None]
    context_offsets = [o for o, s in zip(enc["offset_mapping"], enc.sequence_ids()) if s == 1]
    assert "Paris Castle river."[context_offsets[0][0]: context_offsets[-1][1]] == "Paris Castle river."
    assert len(tokenizer) < 200  # sub-word pieces, not a word-per-token vocabulary
