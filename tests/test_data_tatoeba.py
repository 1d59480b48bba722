from pathlib import Path

import pytest

from pipeline_support import needs_mirror, require_mirror

from stages.xlt.data.tatoeba import read_tatoeba

MIRROR = ("tatoeba", "v1")  # inside the offline data mirror (XLT_MIRROR)


def _write(folder: Path, code: str, source: str, target: str) -> None:
    (folder / f"tatoeba.{code}-eng.{code}").write_text(source, encoding="utf-8")
    (folder / f"tatoeba.{code}-eng.eng").write_text(target, encoding="utf-8")


def test_reads_aligned_pairs_with_xtreme_code_map(tmp_path):
    _write(tmp_path, "cmn", "我爱你。\n你好\u2028吗\n", "I love you.\nHello?\n")
    examples = read_tatoeba(tmp_path, "zh")
    assert examples == [
        {"id": "tatoeba-zh-0000", "lang": "zh", "source": "我爱你。", "target": "I love you."},
        {"id": "tatoeba-zh-0001", "lang": "zh", "source": "你好\u2028吗", "target": "Hello?"},
    ]


def test_mismatched_line_counts_raise(tmp_path):
    _write(tmp_path, "deu", "a\nb\nc\n", "a\nb\n")
    with pytest.raises(ValueError, match="line-aligned"):
        read_tatoeba(tmp_path, "de")


def test_unknown_language_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="known"):
        read_tatoeba(tmp_path, "xx")
    with pytest.raises(ValueError, match="missing"):
        read_tatoeba(tmp_path, "de")


@needs_mirror(*MIRROR)
def test_real_mirror_german():
    examples = read_tatoeba(require_mirror(*MIRROR), "de")
    assert len(examples) == 1000 and all(e["source"] and e["target"] for e in examples)
