"""Read SQuAD v1.1-format JSON (XQuAD) into the shared QA example format.

Article keys: the article ``title`` when every article of the file has a non-empty one (XQuAD keeps the
English title in every language file, checked on the mirror: all 12 files carry the same 48 titles), else
``article-NNN`` from the article's position in the file (XQuAD lists its 48 articles x 5 paragraphs in the
same order in every language). ``article_keys="position"`` forces the positional scheme, which is also what
the Hub loader uses for XQuAD (the Hub copy has no titles).

Each example's ``cluster`` is its paragraph, ``<article key>/p<paragraph index within the article>``: the unit of
resampling in scoring. XQuAD's paragraphs are parallel (same article order and 5 paragraphs per article in every
language), so a question has the same cluster in every language.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

ArticleKeys = Literal["auto", "title", "position"]
OnBadAnswer = Literal["raise", "drop"]


def position_key(article_index: int) -> str:
    """Article key derived from position (shared with the Hub loader)."""
    return f"article-{article_index:03d}"


def _load_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            payload = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: malformed or truncated JSON ({err}); re-download the file") from err
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise ValueError(f"{path}: not SQuAD v1.1 format (expected an object with a 'data' list)")
    return payload


def _article_keys(articles: Sequence[dict], scheme: ArticleKeys, path: Path) -> list[str]:
    titles = [a.get("title") for a in articles]
    have_titles = all(isinstance(t, str) and t.strip() for t in titles) and len(set(titles)) == len(titles)
    if scheme == "title" and not have_titles:
        raise ValueError(f"{path}: article titles missing or duplicated; use article_keys='position'")
    if scheme == "title" or (scheme == "auto" and have_titles):
        return [str(t) for t in titles]
    return [position_key(i) for i in range(len(articles))]


def answer_matches(context: str, text: str, start: int) -> bool:
    return 0 <= start and context[start : start + len(text)] == text


def _bad_answer(qa_id: str, path: Path, on_bad_answer: OnBadAnswer, detail: str) -> None:
    message = f"{path}: question {qa_id!r}: {detail}"
    if on_bad_answer == "raise":
        raise ValueError(message + "; fix the file or pass on_bad_answer='drop'")
    log.warning("dropping %s", message)


def paragraph_cluster(article: str, paragraph_index: int) -> str:
    return f"{article}/p{paragraph_index}"


def _example(qa: dict, context: str, article: str, lang: str, path: Path, on_bad_answer: OnBadAnswer,
             cluster: str) -> dict | None:
    qa_id = str(qa.get("id", ""))
    if not qa_id or "question" not in qa:
        raise ValueError(f"{path}: a question in article {article!r} lacks 'id' or 'question'")
    answers = qa.get("answers") or []
    if not answers:
        _bad_answer(qa_id, path, on_bad_answer, "has no answers")
        return None
    texts, starts = [], []
    for answer in answers:
        text, start = answer.get("text"), answer.get("answer_start")
        if not isinstance(text, str) or not isinstance(start, int) or not answer_matches(context, text, start):
            _bad_answer(qa_id, path, on_bad_answer, f"answer_start {start!r} does not match answer text {text!r}")
            return None
        texts.append(text)
        starts.append(start)
    return {
        "id": qa_id,
        "article": article,
        "lang": lang,
        "context": context,
        "question": qa["question"],
        "answers": {"text": texts, "answer_start": starts},
        "cluster": cluster,
    }


def read_squad(
    path: str | Path,
    lang: str,
    *,
    article_keys: ArticleKeys = "auto",
    on_bad_answer: OnBadAnswer = "raise",
) -> list[dict]:
    """QA examples of one SQuAD v1.1-format file, in file order.

    Raises ValueError for malformed JSON (naming the file), an answer whose ``answer_start`` does not point
    at its text (naming the question id; ``on_bad_answer='drop'`` drops it with a logged warning instead),
    and a file with no questions.
    """
    path = Path(path)
    articles = _load_json(path)["data"]
    keys = _article_keys(articles, article_keys, path)
    examples: list[dict] = []
    for article, key in zip(articles, keys, strict=True):
        for paragraph_index, paragraph in enumerate(article.get("paragraphs", [])):
            context = paragraph.get("context")
            if not isinstance(context, str):
                raise ValueError(f"{path}: a paragraph of article {key!r} has no 'context' string")
            cluster = paragraph_cluster(key, paragraph_index)
            for qa in paragraph.get("qas", []):
                example = _example(qa, context, key, lang, path, on_bad_answer, cluster)
                if example is not None:
                    examples.append(example)
    if not examples:
        raise ValueError(f"{path}: no questions for language {lang!r}; is this the right file?")
    return examples


def read_xquad(folder: str | Path, languages: Sequence[str], **kwargs) -> dict[str, list[dict]]:
    """``xquad.<lang>.json`` of each language; checks that every language has the same question ids."""
    folder = Path(folder)
    per_lang = {lang: read_squad(folder / f"xquad.{lang}.json", lang, **kwargs) for lang in languages}
    check_same_ids(per_lang)
    return per_lang


def check_same_ids(per_lang: dict[str, list[dict]]) -> None:
    """Zero-shot comparisons need every language on the same questions (and the same articles and clusters)."""
    if not per_lang:
        raise ValueError("no languages given")
    ref_lang, ref = next(iter(per_lang.items()))
    ref_ids = {e["id"]: (e["article"], e.get("cluster")) for e in ref}
    for lang, examples in per_lang.items():
        ids = {e["id"]: (e["article"], e.get("cluster")) for e in examples}
        if ids != ref_ids:
            missing = sorted(set(ref_ids) - set(ids))[:3]
            extra = sorted(set(ids) - set(ref_ids))[:3]
            moved = sorted(i for i in set(ids) & set(ref_ids) if ids[i] != ref_ids[i])[:3]
            raise ValueError(
                f"language {lang!r} differs from {ref_lang!r} in question ids, article keys or paragraph clusters "
                f"(missing e.g. {missing}, extra e.g. {extra}, other article/paragraph e.g. {moved}); read all "
                "languages with the same article_keys"
            )
