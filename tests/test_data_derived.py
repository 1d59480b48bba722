import pytest

from stages.xlt.data.derived import (
    ENTAILMENT,
    NOT_ENTAILMENT,
    qnli_from_squad,
    sentence_choice_from_squad,
    split_sentences,
)

P1 = ("The tower was built in 1889 by Gustave Eiffel. It is made of wrought iron. "
      "Dr. Smith visited the tower in May. The tower is 330 metres tall!")
P2 = "Bridges span rivers. The bridge was built by Roman engineers."


def _ex(qid, question, context, answer, article="A", lang="en"):
    start = context.index(answer)
    return {"id": qid, "article": article, "lang": lang, "context": context, "question": question,
            "answers": {"text": [answer], "answer_start": [start]}}


EXAMPLES = [
    _ex("q1", "When was the tower built?", P1, "1889"),
    _ex("q2", "What is the tower made of?", P1, "wrought iron"),
    _ex("q3", "How tall is the tower?", P1, "330 metres"),
    _ex("q4", "Who built the bridge?", P2, "Roman engineers"),
]


def test_sentence_splitter_handles_abbreviations_and_marks():
    assert split_sentences(P1) == ["The tower was built in 1889 by Gustave Eiffel.", "It is made of wrought iron.",
                                   "Dr. Smith visited the tower in May.", "The tower is 330 metres tall!"]
    assert split_sentences("He lived in the U.S. Army base. Then he left.") == [
        "He lived in the U.S. Army base.", "Then he left."]


def test_qnli_labels_and_balance():
    pairs = qnli_from_squad(EXAMPLES, seed=0)
    by_id = {p["id"]: p for p in pairs}
    assert by_id["q1-pos"]["text_b"] == "The tower was built in 1889 by Gustave Eiffel."
    assert by_id["q1-pos"]["label"] == ENTAILMENT and by_id["q1-neg"]["label"] == NOT_ENTAILMENT
    assert "1889" not in by_id["q1-neg"]["text_b"] and by_id["q1-neg"]["text_b"] in split_sentences(P1)
    assert by_id["q4-neg"]["text_b"] == "Bridges span rivers."
    assert sum(p["label"] == ENTAILMENT for p in pairs) == sum(p["label"] == NOT_ENTAILMENT for p in pairs) == 4
    for p in pairs:
        assert set(p) == {"id", "lang", "text_a", "text_b", "label"}


def test_qnli_prefers_lexically_overlapping_negatives():
    # "tower" overlaps sentences 3 and 4, never "It is made of wrought iron."
    for seed in range(20):
        negative = next(p for p in qnli_from_squad(EXAMPLES[:1], seed=seed) if p["label"] == NOT_ENTAILMENT)
        assert negative["text_b"] != "It is made of wrought iron."


def test_qnli_is_deterministic_and_uses_only_given_examples():
    assert qnli_from_squad(EXAMPLES, seed=1) == qnli_from_squad(EXAMPLES, seed=1)
    subset = qnli_from_squad(EXAMPLES[3:], seed=1)
    texts = {p["text_b"] for p in subset} | {p["text_a"] for p in subset}
    assert all(s not in texts for s in split_sentences(P1))


def test_sentence_choice_labels_point_at_the_answer_sentence():
    items = sentence_choice_from_squad(EXAMPLES, k=4, seed=0)
    assert len(items) == 4
    for item, example in zip(items, EXAMPLES):
        assert len(item["choices"]) == 4 and len(set(item["choices"])) == 4
        assert example["answers"]["text"][0] in item["choices"][item["label"]]
        assert sum(example["answers"]["text"][0] in c for c in item["choices"]) == 1
        assert item["context"] == example["question"]


def test_sentence_choice_borrows_from_same_article_only():
    other_article = _ex("q5", "Who built it?", "Other text here. Cats built it.", "Cats", article="B")
    items = {i["id"]: i for i in sentence_choice_from_squad(EXAMPLES + [other_article], k=4, seed=0)}
    # P2 has 2 sentences: the 2 missing distractors come from P1 (same article A), never from article B
    assert all(c in split_sentences(P1) + split_sentences(P2) for c in items["q4"]["choices"])
    assert "q5" not in items  # article B has too few sentences for 4 choices


def test_sentence_choice_positions_vary_and_are_deterministic():
    many = [dict(e, id=f"{e['id']}-{i}") for i in range(30) for e in EXAMPLES[:3]]
    items = sentence_choice_from_squad(many, k=3, seed=7)
    assert items == sentence_choice_from_squad(many, k=3, seed=7)
    assert {i["label"] for i in items} == {0, 1, 2}
    with pytest.raises(ValueError):
        sentence_choice_from_squad(EXAMPLES, k=1, seed=0)
