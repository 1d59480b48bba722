"""Languages of the targets, their scripts, and XTREME's Tatoeba code map."""

from __future__ import annotations

XQUAD_LANGUAGES: tuple[str, ...] = ("en", "ar", "de", "el", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")

# Dev sets as XTREME distributes them (English first, then alphabetical).
XNLI_LANGUAGES: tuple[str, ...] = ("en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi",
                                   "zh")
PAWSX_LANGUAGES: tuple[str, ...] = ("en", "de", "es", "fr", "ja", "ko", "zh")
MLQA_LANGUAGES: tuple[str, ...] = ("en", "ar", "de", "es", "hi", "vi", "zh")
# XTREME's UD-POS treebank languages; google/xtreme names its configs by the language's English name (udpos.German).
UDPOS_NAMES: dict[str, str] = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "kk": "Kazakh", "ko": "Korean", "mr": "Marathi", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "ur": "Urdu", "vi": "Vietnamese",
    "yo": "Yoruba", "zh": "Chinese"}
UDPOS_LANGUAGES: tuple[str, ...] = ("en", *sorted(set(UDPOS_NAMES) - {"en"}))
PANX_LANGUAGES: tuple[str, ...] = (
    "en", "af", "ar", "bg", "bn", "de", "el", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu", "id", "it", "ja",
    "jv", "ka", "kk", "ko", "ml", "mr", "ms", "my", "nl", "pt", "ru", "sw", "ta", "te", "th", "tl", "tr", "ur", "vi",
    "yo", "zh")

# The writing system of each language's text in XQuAD / Tatoeba (drives script-aware perturbations).
SCRIPTS: dict[str, str] = {
    "en": "Latn", "de": "Latn", "es": "Latn", "ro": "Latn", "tr": "Latn", "vi": "Latn", "fr": "Latn",
    "af": "Latn", "et": "Latn", "eu": "Latn", "fi": "Latn", "hu": "Latn", "id": "Latn", "it": "Latn",
    "jv": "Latn", "nl": "Latn", "pt": "Latn", "sw": "Latn", "tl": "Latn",
    "ar": "Arab", "fa": "Arab", "ur": "Arab",
    "el": "Grek",
    "ru": "Cyrl", "bg": "Cyrl", "kk": "Cyrl",
    "hi": "Deva", "mr": "Deva",
    "th": "Thai",
    "zh": "Hani", "ja": "Jpan", "ko": "Hang",
    "he": "Hebr", "ka": "Geor", "bn": "Beng", "ta": "Taml", "te": "Telu", "ml": "Mlym",
}

# XTREME's 36 Tatoeba languages (two-letter) and the three-letter codes of LASER's file names.
TATOEBA_XTREME: dict[str, str] = {
    "af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "es": "spa", "et": "est",
    "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun", "id": "ind",
    "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz", "ko": "kor", "ml": "mal", "mr": "mar",
    "nl": "nld", "pt": "por", "ru": "rus", "sw": "swh", "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl",
    "tr": "tur", "ur": "urd", "vi": "vie", "zh": "cmn",
}

# Every language the project reads Tatoeba pairs for: XTREME's 36 plus XQuAD's Romanian, whose pairs feed the
# bilingual lexicon used for word-level code-switching (Romanian is in LASER's 112 but not XTREME's 36).
TATOEBA_CODES: dict[str, str] = {**TATOEBA_XTREME, "ro": "ron"}
