"""Typos for the model-aware attack that a reader would take for typos of the same word, per language.

The attack may only make edits that keep the meaning of the text, so ``TypoModel(lang).typos(word)`` lists every
typo of one word that passes all of these rules (and ``sample`` draws from them with a seeded generator):

* **Protected words are never edited**: the language's stop words and its negations. Stop words come from a
  library: the ``STOPWORD_TOP_N`` most frequent words of the language in ``wordfreq`` (function words fill the top
  of every language's list), for Thai PyThaiNLP's ``thai_stopwords()``. No library lists negations, so
  ``NEGATIONS`` below is a short hand-made list per language; in Chinese and Thai, which write words without spaces,
  any word that contains a negation morpheme is protected (不是, 没有, ไม่ได้).
* **One operation per word**, on grapheme clusters (so a mark is never orphaned): a substitution, a deletion, an
  insertion or a swap of two neighbours. Short words are not edited: alphabetic words (Latin, Cyrillic, Greek,
  Arabic) need ``MIN_LETTERS`` letters, and keep their first and last letter (Pruthi et al. 2019 edit internal
  characters only: readers recognise a word by its ends); Devanagari, Thai and Chinese words need two clusters
  (two syllables), so a one-syllable word, usually a function word, is never changed.
* **No real words**: a typo that is itself a word of the language is rejected (not→hot, Wer→Wert, ปี→ผี), using
  the language's word list in ``wordfreq`` (any word it lists at all, however rare: its large lists also hold common
  misspellings, so a few realistic typos are rejected too; a conservative choice). For Thai, which wordfreq lacks,
  PyThaiNLP's dictionary (``thai_words()``); for a language without any list there is no check, and
  ``card(lang)["poolable"]`` is False: such a language is reported separately and left out of pooled rows.
* **Realistic typos per script** (only words in the language's own script are edited; a Latin name inside a
  Chinese question is left alone):
  - Latin, Cyrillic, Greek, Arabic: DeepWordBug's four operations (Gao et al. 2018: swap two neighbouring letters,
    substitute, delete, insert), with substituted and inserted letters taken from the keyboard neighbours of the
    intended key (as TextAttack's ``WordSwapQWERTY``): QWERTY, QWERTZ for German, AZERTY for French, JCUKEN for
    Russian and Bulgarian, the Greek layout, the Arabic (101) layout.
  - Devanagari: slips on the InScript keyboard (IS 13194:1991, the Indian government standard): a consonant or a
    vowel sign (matra) replaced by one on a neighbouring key or on the same key with or without Shift; InScript
    puts the short and long matras above each other (ि/ी, ु/ू, े/ै, ो/ौ) and the aspirated consonant on the Shift of
    the plain one (क/ख, द/ध, ब/भ), so vowel-length and aspiration confusions are such slips. Also a dropped nukta
    (ज़→ज) and anusvara ↔ chandrabindu (ं/ँ, one key with and without Shift). Only like replaces like (a consonant by a
    consonant, a vowel sign by a vowel sign), so every syllable stays well formed.
  - Thai: slips on the Thai keyboard as PyThaiNLP encodes it (modified TIS 820-2531, the de facto Kedmanee
    layout): a consonant, a vowel sign or a tone mark replaced by one of the same kind on a neighbouring key or on
    the same key's other Shift level (่/้ are neighbours: the tone-mark confusion; ิ/ื, ุ/ึ), or a tone mark left out.
  - Chinese: homophones, the commonest kind of Chinese misspelling (wrong character of the same pinyin, as a pinyin
    input method offers it): one character of the word replaced by a common character read the same, first with the
    same tone, then with another tone. A character's reading in the word comes from pypinyin (which reads
    polyphonic characters from its phrase dictionary); the common characters are the ``COMMON_HAN`` most frequent
    single characters in wordfreq's Chinese list (3,500: the size of the first level of the Table of General
    Standard Chinese Characters), each under its usual reading. Never a code-point neighbour.

Every typo records its operation (``Typo.operation``) so the attack's records say what was done.
"""

from __future__ import annotations

import functools
import random
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import version

from ..languages import SCRIPTS
from .text_units import ISO15924_TO_SCRIPT, char_script, clusters
from .typos import KEYBOARD_ROWS

STOPWORD_TOP_N = 100
MIN_LETTERS = 4
MIN_SYLLABLES = 2
COMMON_HAN = 3500

# No library lists negations; these are the forms a reader would lose the sentence's polarity with.
NEGATIONS: dict[str, tuple[str, ...]] = {
    "en": ("not", "no", "never", "none", "nor", "neither", "nobody", "nothing", "nowhere", "cannot", "n't",
           "without"),
    "de": ("nicht", "kein", "keine", "keinen", "keinem", "keiner", "keines", "nie", "niemals", "nichts", "niemand",
           "weder", "ohne"),
    "es": ("no", "nunca", "jamás", "nada", "nadie", "ninguno", "ninguna", "ningún", "ni", "sin", "tampoco"),
    "fr": ("ne", "pas", "non", "jamais", "rien", "personne", "aucun", "aucune", "ni", "sans", "nul", "nulle"),
    "ro": ("nu", "niciodată", "nimic", "nimeni", "niciun", "nicio", "nici", "fără"),
    "tr": ("değil", "yok", "hiç", "asla", "hayır", "ne", "olmayan", "olmadan"),
    "vi": ("không", "chẳng", "chưa", "chả", "đừng", "chớ"),
    "sw": ("si", "hapana", "bila", "hakuna", "sio", "siyo"),
    "ru": ("не", "нет", "ни", "никогда", "ничего", "ничто", "никто", "нигде", "никакой", "без", "нельзя"),
    "bg": ("не", "няма", "никога", "нищо", "никой", "нито", "без"),
    "el": ("δεν", "μην", "μη", "όχι", "ούτε", "ποτέ", "τίποτα", "κανένας", "καμία", "κανένα", "χωρίς"),
    "ar": ("لا", "لم", "لن", "ليس", "ليست", "ما", "غير", "بدون", "دون", "لست", "ليسوا"),
    "ur": ("نہیں", "نہ", "مت", "بغیر", "کبھی"),
    "hi": ("नहीं", "न", "ना", "मत", "नही", "बिना", "कभी"),
    "th": ("ไม่", "มิ", "ไม่ได้", "ไม่มี", "ห้าม", "อย่า", "ไร้", "ปราศจาก"),
    "zh": ("不", "没", "沒", "没有", "無", "无", "非", "未", "别", "別", "勿", "莫", "否"),
}
# Chinese and Thai words that merely contain one of these are negations too (不是, 没有, ไม่ได้).
NEGATION_MORPHEMES: dict[str, tuple[str, ...]] = {"zh": ("不", "没", "沒", "無", "无", "非", "未", "别", "別", "勿", "莫", "否"),
                                                 "th": ("ไม่", "มิได้", "ห้าม", "อย่า")}

_QWERTZ = ("qwertzuiopü", "asdfghjklöä", "yxcvbnm")
_AZERTY = ("azertyuiop", "qsdfghjklm", "wxcvbn")
_ARABIC_101 = ("ضصثقفغعهخحجد", "شسيبلاتنمكط", "ئءؤرىةوزظ")
# InScript (IS 13194:1991): rows q..], a..', z../ without and with Shift ("·" marks a key without a letter).
_INSCRIPT = ((tuple("ौैाीूबहगदजड\u093c"), tuple("औऐआईऊभङघधझढञ")),
             (tuple("ोे्िुपरकतचट"), tuple("ओएअइउफऱखथछठ")),
             (tuple("ॆंमनवलस··य"), tuple("ऎँणऩऴळशष·") + ("\u095f",)))
_LATIN_LAYOUTS = {"de": ("QWERTZ", _QWERTZ), "fr": ("AZERTY", _AZERTY)}
_LAYOUTS = {"Cyrillic": ("JCUKEN", KEYBOARD_ROWS["Cyrillic"]), "Greek": ("Greek", KEYBOARD_ROWS["Greek"]),
            "Arabic": ("Arabic (101)", _ARABIC_101)}

_DEVANAGARI_CONSONANTS = frozenset(chr(c) for c in range(0x0915, 0x093A)) - {"\u0929", "\u0931", "\u0934"}
_DEVANAGARI_MATRAS = frozenset(chr(c) for c in range(0x093E, 0x094D))
_DEVANAGARI_NASALS = frozenset("\u0901\u0902")
_NUKTA = "\u093c"
_THAI_CONSONANTS = frozenset(chr(c) for c in range(0x0E01, 0x0E2F))
_THAI_TONES = frozenset("\u0e48\u0e49\u0e4a\u0e4b")
_THAI_ABOVE = frozenset("\u0e31\u0e34\u0e35\u0e36\u0e37\u0e47")
_THAI_BELOW = frozenset("\u0e38\u0e39")


@dataclass(frozen=True)
class Typo:
    text: str
    operation: str
    tier: int = 0  # sampled in tier order: Chinese same-tone homophones (0) before other tones (1)


# ---------------------------------------------------------------------------------------------- keyboards
def grid_neighbours(rows: Sequence[Sequence[str]]) -> dict[str, set[str]]:
    """Keys touching each key on a staggered keyboard (left, right, the two above, the two below)."""
    grid = {(r, i): ch for r, row in enumerate(rows) for i, ch in enumerate(row) if ch and ch != "·"}
    out: dict[str, set[str]] = {}
    for (r, i), ch in grid.items():
        near = [(r, i - 1), (r, i + 1), (r - 1, i), (r - 1, i + 1), (r + 1, i - 1), (r + 1, i)]
        out.setdefault(ch, set()).update(grid[p] for p in near if p in grid)
    return out


def shifted_neighbours(layers: Sequence[Sequence[Sequence[str]]]) -> dict[str, set[str]]:
    """Neighbours on every Shift level of a layout, plus the same key's other levels. ``layers[k]`` = level k's rows."""
    out: dict[str, set[str]] = {}
    for rows in layers:
        for ch, near in grid_neighbours(rows).items():
            out.setdefault(ch, set()).update(near)
    for r in range(len(layers[0])):
        for i in range(len(layers[0][r])):
            same_key = {rows[r][i] for rows in layers if i < len(rows[r]) and rows[r][i] and rows[r][i] != "·"}
            for ch in same_key:
                out.setdefault(ch, set()).update(same_key - {ch})
    return out


@functools.cache
def _inscript() -> dict[str, set[str]]:
    return shifted_neighbours([[row for row, _ in _INSCRIPT], [shifted for _, shifted in _INSCRIPT]])


@functools.cache
def _thai_keyboard() -> dict[str, set[str]]:
    from pythainlp.util.keyboard import TIS_820_2531_MOD, TIS_820_2531_MOD_SHIFT

    return shifted_neighbours([TIS_820_2531_MOD, TIS_820_2531_MOD_SHIFT])


def layout_for(lang: str) -> tuple[str, dict[str, set[str]]] | None:
    """(layout name, key -> neighbouring keys) of the keyboard a writer of ``lang`` types on, or None."""
    script = ISO15924_TO_SCRIPT.get(SCRIPTS.get(lang, ""), "")
    if script == "Latin":
        name, rows = _LATIN_LAYOUTS.get(lang, ("QWERTY", KEYBOARD_ROWS["Latin"]))
        return name, grid_neighbours(rows)
    if script in _LAYOUTS:
        name, rows = _LAYOUTS[script]
        return name, grid_neighbours(rows)
    if script == "Devanagari":
        return "InScript (IS 13194:1991)", _inscript()
    if script == "Thai":
        return "Thai (modified TIS 820-2531, PyThaiNLP)", _thai_keyboard()
    return None


# ---------------------------------------------------------------------------------------------- word lists
class Lexicon:
    """The real words of a language: ``word in lexicon`` after the list's own normalisation."""

    def __init__(self, lang: str):
        import wordfreq

        self.lang = lang
        if lang in wordfreq.available_languages("best"):
            from wordfreq.preprocess import preprocess_text

            self._words = frozenset(wordfreq.get_frequency_dict(lang, "best"))
            self.normalise = lambda word: preprocess_text(word, lang)
            kind = "large" if lang in wordfreq.available_languages("large") else "small"
            self.source = f"wordfreq {version('wordfreq')} ({kind} list, {len(self._words):,} words)"
        elif lang == "th":
            from pythainlp.corpus import thai_words

            self._words = frozenset(thai_words())
            self.normalise = lambda word: word
            self.source = f"PyThaiNLP thai_words() ({len(self._words):,} words; wordfreq has no Thai)"
        else:
            self._words, self.normalise, self.source = frozenset(), (lambda word: word), None

    def __contains__(self, word: str) -> bool:
        return self.normalise(word) in self._words

    @property
    def from_wordfreq(self) -> bool:
        return bool(self.source) and self.source.startswith("wordfreq")


@functools.cache
def lexicon(lang: str) -> Lexicon:
    return Lexicon(lang)


@functools.cache
def stopwords(lang: str) -> frozenset[str]:
    """The language's stop words (normalised as its lexicon normalises words); empty when no library has them."""
    import wordfreq

    if lang in wordfreq.available_languages("best"):
        from wordfreq.preprocess import preprocess_text

        return frozenset(preprocess_text(w, lang) for w in wordfreq.top_n_list(lang, STOPWORD_TOP_N))
    if lang == "th":
        from pythainlp.corpus import thai_stopwords

        return frozenset(thai_stopwords())
    return frozenset()


# ---------------------------------------------------------------------------------------------- Chinese homophones
@functools.cache
def _han_readings() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Common characters by their usual reading: (toned pinyin -> chars, toneless pinyin -> chars), by frequency."""
    import wordfreq
    from pypinyin import Style, pinyin

    common: list[str] = []
    for word in wordfreq.iter_wordlist("zh", "best"):
        if len(word) == 1 and char_script(word) == "Han":
            common.append(word)
            if len(common) == COMMON_HAN:
                break
    toned: dict[str, list[str]] = {}
    toneless: dict[str, list[str]] = {}
    for char in common:
        reading = pinyin(char, style=Style.TONE3, neutral_tone_with_five=True)[0][0]
        toned.setdefault(reading, []).append(char)
        toneless.setdefault(reading.rstrip("12345"), []).append(char)
    return toned, toneless


def common_han() -> frozenset[str]:
    return frozenset(c for chars in _han_readings()[0].values() for c in chars)


def han_reading(word: str) -> list[str]:
    """Toned pinyin (TONE3) of each character of a Chinese word, polyphones read in context."""
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True, errors=lambda chars: ["?"] * len(chars))


def homophones(word: str, i: int) -> tuple[list[str], list[str]]:
    """Common characters read like ``word[i]`` in ``word``: (same tone, other tone), most frequent first."""
    reading = han_reading(word)[i]
    toned, toneless = _han_readings()
    same = [c for c in toned.get(reading, []) if c != word[i]]
    other = [c for c in toneless.get(reading.rstrip("12345"), []) if c != word[i] and c not in same]
    return same, other


# ---------------------------------------------------------------------------------------------- edits per script
def _match_case(new: str, old: str) -> str:
    return new.upper() if old.isupper() else new


def _alphabetic(parts: list[str], keys: dict[str, set[str]]) -> Iterable[Typo]:
    """DeepWordBug's four operations on internal letters, substituted/inserted letters from keyboard neighbours."""
    n = len(parts)
    for i in range(1, n - 2):
        if parts[i] != parts[i + 1]:
            yield Typo("".join(parts[:i] + [parts[i + 1], parts[i]] + parts[i + 2:]), "swap")
    for i in range(1, n - 1):
        yield Typo("".join(parts[:i] + parts[i + 1:]), "delete")
    for i in range(1, n - 1):
        base, marks = parts[i][0], parts[i][1:]
        for near in sorted(keys.get(base.lower(), ())):
            yield Typo("".join(parts[:i] + [_match_case(near, base) + marks] + parts[i + 1:]), "substitute")
    for j in range(1, n):
        # A key near one of the two letters around the gap was hit as well.
        near = sorted(keys.get(parts[j - 1][0].lower(), set()) | keys.get(parts[j][0].lower(), set()))
        for letter in near:
            yield Typo("".join(parts[:j] + [_match_case(letter, parts[j][0])] + parts[j:]), "insert")


def _same_kind(char: str, kinds: Sequence[frozenset[str]]) -> frozenset[str] | None:
    return next((kind for kind in kinds if char in kind), None)


def _abugida(word: str, keys: dict[str, set[str]], kinds: Sequence[frozenset[str]],
             droppable: frozenset[str]) -> Iterable[Typo]:
    """Substitute one code point by a keyboard neighbour of the same kind, or drop one droppable mark."""
    chars = list(word)
    for i, char in enumerate(chars):
        kind = _same_kind(char, kinds)
        # A consonant with a nukta is a letter of its own (ज़): another consonant under that nukta would not be.
        if kind is not None and chars[i + 1:i + 2] != [_NUKTA]:
            for near in sorted(keys.get(char, set()) & kind):
                yield Typo("".join(chars[:i] + [near] + chars[i + 1:]), "substitute")
        if char in droppable:
            yield Typo("".join(chars[:i] + chars[i + 1:]), "drop_mark")


def _devanagari(word: str) -> Iterable[Typo]:
    decomposed = unicodedata.normalize("NFD", word)  # क़ (U+0958) -> क + nukta, so the nukta can be dropped
    kinds = (_DEVANAGARI_CONSONANTS, _DEVANAGARI_MATRAS, _DEVANAGARI_NASALS)
    for typo in _abugida(decomposed, _inscript(), kinds, frozenset(_NUKTA)):
        yield Typo(unicodedata.normalize("NFC", typo.text), typo.operation)


def _thai(word: str) -> Iterable[Typo]:
    return _abugida(word, _thai_keyboard(), (_THAI_CONSONANTS, _THAI_TONES, _THAI_ABOVE, _THAI_BELOW), _THAI_TONES)


def _chinese(word: str) -> Iterable[Typo]:
    for i in range(len(word)):
        same, other = homophones(word, i)
        for tier, chars in ((0, same), (1, other)):
            for char in chars:
                yield Typo(word[:i] + char + word[i + 1:], "homophone" if tier == 0 else "homophone_other_tone", tier)


# ---------------------------------------------------------------------------------------------- the model
class TypoModel:
    """The attack's typo model for one language (see the module docstring)."""

    def __init__(self, lang: str):
        self.lang = lang
        self.script = ISO15924_TO_SCRIPT.get(SCRIPTS.get(lang, ""), "")
        self.layout = layout_for(lang)
        self.lexicon = lexicon(lang)
        self.stopwords = stopwords(lang)
        self.stopword_source = (f"wordfreq top {STOPWORD_TOP_N}" if self.lexicon.from_wordfreq
                                else "PyThaiNLP thai_stopwords()" if lang == "th" else "no list")
        self.negations = frozenset(self._key(w) for w in NEGATIONS.get(lang, ()))
        self._cache: dict[str, tuple[Typo, ...]] = {}

    def _key(self, word: str) -> str:
        return self.lexicon.normalise(word) if self.lexicon.source else word.casefold()

    def protected(self, word: str) -> bool:
        """A stop word or a negation of the language (never edited)."""
        key = self._key(word)
        if key in self.stopwords or key in self.negations or word.casefold() in self.negations:
            return True
        return any(m in word for m in NEGATION_MORPHEMES.get(self.lang, ()))

    def editable(self, word: str) -> bool:
        """In the language's script, long enough and not protected."""
        parts = clusters(word)
        if not parts or any(char_script(p[0]) != self.script for p in parts) or self.protected(word):
            return False
        if self.script in ("Devanagari", "Thai", "Han"):
            return len(parts) >= MIN_SYLLABLES
        return self.layout is not None and len(parts) >= MIN_LETTERS

    def typos(self, word: str) -> tuple[Typo, ...]:
        """Every allowed typo of ``word`` (deterministic order, no duplicates, no real or protected words)."""
        if word in self._cache:
            return self._cache[word]
        found: dict[str, Typo] = {}
        if self.editable(word):
            for typo in self._raw(word):
                if (typo.text != word and typo.text not in found and typo.text not in self.lexicon
                        and not self.protected(typo.text)):
                    found[typo.text] = typo
        self._cache[word] = result = tuple(found.values())
        return result

    def _raw(self, word: str) -> Iterable[Typo]:
        if self.script == "Han":
            return _chinese(word)
        if self.script == "Devanagari":
            return _devanagari(word)
        if self.script == "Thai":
            return _thai(word)
        return _alphabetic(clusters(word), self.layout[1])

    def sample(self, word: str, rng: random.Random, n: int) -> list[Typo]:
        """Up to ``n`` distinct typos of ``word``, drawn with ``rng``: lower tiers first, and within a tier the
        operations in turn (in a seeded order), as DeepWordBug draws one candidate per operation; otherwise
        insertions, which have the most variants, would crowd out the rest."""
        chosen: list[Typo] = []
        for tier in sorted({t.tier for t in self.typos(word)}):
            pools: dict[str, list[Typo]] = {}
            for typo in self.typos(word):
                if typo.tier == tier:
                    pools.setdefault(typo.operation, []).append(typo)
            operations = sorted(pools)
            rng.shuffle(operations)
            while len(chosen) < n and any(pools.values()):
                for operation in operations:
                    pool = pools[operation]
                    if pool and len(chosen) < n:
                        chosen.append(pool.pop(rng.randrange(len(pool))))
        return chosen

    def card(self) -> dict:
        """What this language's attack rests on, for the records and the report."""
        typo_model = {"Han": "homophones (pypinyin; 3,500 common characters from wordfreq)"}.get(
            self.script, f"keyboard slips ({self.layout[0]})" if self.layout else None)
        poolable = typo_model is not None and self.lexicon.from_wordfreq
        reason = None
        if typo_model is None:
            reason = f"no typo model for the {self.script or 'unknown'} script"
        elif not self.lexicon.from_wordfreq:
            reason = "wordfreq has no word list for this language: real-word edits " + (
                f"are checked with {self.lexicon.source}" if self.lexicon.source else "are not checked")
        return {"lang": self.lang, "script": self.script, "typo_model": typo_model,
                "real_word_check": self.lexicon.source,
                "stopwords": f"{len(self.stopwords)} ({self.stopword_source})",
                "negations": len(NEGATIONS.get(self.lang, ())), "poolable": poolable, "separate_because": reason}


@functools.cache
def typo_model(lang: str) -> TypoModel:
    return TypoModel(lang)
