"""Word segmentation: exact character offsets, dictionary words for Thai and Chinese, offline and write-free."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages.xlt.segment import word_strings, words

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("text", "lang", "expected"), [
    ("ทีมรับของแพนเธอร์สถอดใจที่คะแนน 308", "th",
     ["ทีม", "รับ", "ของ", "แพน", "เธอร์ส", "ถอดใจ", "ที่", "คะแนน", "308"]),
    ("ในขณะที่เป็นผู้นำ", "th", ["ในขณะที่", "เป็น", "ผู้นำ"]),
    ("黑豹队的防守丢了多少分？", "zh", ["黑豹", "队", "的", "防守", "丢", "了", "多少", "分"]),
    ("在GPU上，2008年", "zh", ["在", "GPU", "上", "2008", "年"]),
    ("Panthersได้ 3.5 co-op", "en", ["Panthers", "ได้", "3", "5", "co", "op"]),  # script change splits a run
    ("पैंथर्स डिफ़ेंस ने", "hi", ["पैंथर्स", "डिफ़ेंस", "ने"]),  # vowel signs and nukta stay inside words
    ("東京に住んでいます。カタカナ", "ja", ["東京", "に", "住", "んでいます", "カタカナ"]),  # script runs
])
def test_words_and_offsets(text, lang, expected):
    spans = words(text, lang)
    assert [text[s:e] for s, e in spans] == expected == word_strings(text, lang)


ALPHABET = ("abcxyzÉé ,.?!-_'0123456789" "ทีมรับของแพนเธอร์สถอดใจ" "黑豹队的防守丢了多少分國家"
            "हिन्दीडिफ़" "ابتثجح" "かなカナー" "\u0301\u200d")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=ALPHABET, max_size=40), lang=st.sampled_from(["en", "th", "zh", "ja", "hi", "ar"]))
def test_words_tile_the_word_characters_exactly(text, lang):
    spans = words(text, lang)
    assert all(0 <= s < e <= len(text) for s, e in spans)
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:]))  # in order, never overlapping
    assert all(regex.fullmatch(r"\w+", text[s:e]) for s, e in spans)
    # every word character is in exactly one word: nothing dropped, nothing invented
    assert "".join(text[s:e] for s, e in spans) == "".join(regex.findall(r"\w", text))


def test_segmenters_need_no_network_and_write_no_files(tmp_path):
    """In a fresh process with sockets disabled and an empty HOME/TMPDIR, Thai and Chinese segment as here."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    script = (
        "import json, socket, sys\n"
        "def refuse(*a, **k):\n"
        "    raise OSError('network access attempted')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from stages.xlt.segment import word_strings\n"
        "print(json.dumps([word_strings(sys.argv[1], 'th'), word_strings(sys.argv[2], 'zh')]))\n"
    )
    thai, chinese = "ทีมรับของแพนเธอร์สถอดใจที่คะแนน", "哪個國家的人口最多"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHAINLP")}
    env.update(HOME=str(home), TMPDIR=str(tmp), PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", script, thai, chinese], env=env, cwd=REPO, capture_output=True,
                         text=True, check=True)
    assert json.loads(out.stdout) == [word_strings(thai, "th"), word_strings(chinese, "zh")]
    assert list(home.iterdir()) == [] and list(tmp.iterdir()) == []  # no ~/pythainlp-data, no jieba cache
