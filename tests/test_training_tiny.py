"""Tiny random encoders (BERT, and XLM-R's architecture) with offline WordPiece tokenizers, toy task data and
featurisation, for the model-side tests.

Other test modules import the builders from here; the tests below check the fixtures themselves are sound.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu river mountain castle forest city "
         "king queen paris london berlin seventeen ninety blue green red").split()
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def single_thread():
    """Generator for a module fixture: torch on one thread while the module runs. Tiny models gain nothing from
    a second thread, and on a shared, loaded machine its synchronisation made each small matmul ~500x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


one_thread = pytest.fixture(autouse=True, scope="module")(single_thread)


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


XLMR_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # XLM-R's ids: <s> 0, <pad> 1, </s> 2


def build_xlmr_tokenizer():
    """The same kind of small WordPiece vocabulary with XLM-R's conventions: <s> A </s></s> B </s>, pad id 1, and
    no segment ids (XLM-R's tokenizer declares none)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="<unk>"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(_sentences() + ["what which who where when how is the answer ?"],
                            trainers.WordPieceTrainer(vocab_size=120, special_tokens=XLMR_SPECIALS))
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)])
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", cls_token="<s>",
                                   sep_token="</s>", bos_token="<s>", eos_token="</s>", mask_token="<mask>",
                                   model_max_length=512, model_input_names=["input_ids", "attention_mask"])


def build_tiny_encoder(out_dir: Path, seed: int = 0, *, dropout: bool = True, layers: int = 2) -> Path:
    """A random ``layers``-layer, hidden-32 BERT encoder folder (config + safetensors + fast tokenizer).

    ``dropout=False`` switches every dropout off (for tests comparing two computations that would otherwise draw
    different dropout masks)."""
    import torch
    from transformers import BertConfig, BertModel

    tokenizer = build_tokenizer()
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
                        **({} if dropout else {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config, add_pooling_layer=False)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def build_tiny_xlmr(out_dir: Path, seed: int = 0, *, layers: int = 3) -> Path:
    """A random encoder of XLM-R's architecture (``XLMRobertaModel``: position ids counted from the padding id, one
    segment type), hidden 32, with ``build_xlmr_tokenizer``'s vocabulary."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    tokenizer = build_xlmr_tokenizer()
    config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=layers,
                              num_attention_heads=2, intermediate_size=64, max_position_embeddings=258,
                              type_vocab_size=1, pad_token_id=tokenizer.pad_token_id,
                              bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = XLMRobertaModel(config, add_pooling_layer=False)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def featurise(tokenizer, family: str, examples: list[dict], max_length: int = 64, doc_stride: int = 16,
              train: bool = True) -> list[dict]:
    """Training (or evaluation) features of ``examples``, as the prefix_train stage makes them."""
    from stages.xlt.tasks.family import model_family

    method = model_family(family).train_features if train else model_family(family).eval_features
    return method(examples, tokenizer, max_length=max_length, doc_stride=doc_stride)


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


def test_tiny_xlmr_folder_loads_with_its_own_conventions(tmp_path):
    from transformers import AutoModel, AutoTokenizer

    folder = build_tiny_xlmr(tmp_path / "xlmr")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, add_pooling_layer=False)
    assert type(model).__name__ == "XLMRobertaModel"
    assert (tokenizer.cls_token_id, tokenizer.pad_token_id, tokenizer.sep_token_id) == (0, 1, 2)
    assert model.config.pad_token_id == tokenizer.pad_token_id
    enc = tokenizer("what is it ?", "paris castle river .")
    assert "token_type_ids" not in enc
    assert enc["input_ids"][0] == 0 and enc["input_ids"].count(2) == 3  # <s> A </s></s> B </s>
