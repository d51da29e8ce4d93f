"""Matching what people type against the labels we offered, the way they type them."""

from __future__ import annotations

import re
import unicodedata

# "Không đồng ý" must never be taken for "Đồng ý": a label with one of these words only
# matches an answer that has one too.
NEGATIONS = frozenset({"khong", "chua", "ko", "k", "no", "not", "dont"})
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Lower case without diacritics, emoji or punctuation: "Tiếng Việt 🇻🇳!" → "tieng viet"."""
    decomposed = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_WORD.sub(" ", plain).strip()


def pick(answer: str, labels: list[str]) -> int | None:
    """The index of the one label `answer` means: its number, the label, a prefix or words."""
    typed = fold(answer)
    if not typed:
        return None
    if typed.isdigit():
        number = int(typed)
        return number - 1 if 1 <= number <= len(labels) else None
    folded = [fold(label) for label in labels]
    for means in (_same, _starts, _has_words):
        found = [i for i, label in enumerate(folded) if means(typed, label)]
        if len(found) == 1:
            return found[0]
        if found:
            return None  # ambiguous: better to ask again than to guess
    return None


def _same(typed: str, label: str) -> bool:
    return typed == label


def _starts(typed: str, label: str) -> bool:
    return label.startswith(typed) and _agrees_on_negation(typed, label)


def _has_words(typed: str, label: str) -> bool:
    words, label_words = typed.split(), label.split()
    return all(w in label_words for w in words) and _agrees_on_negation(typed, label)


def _agrees_on_negation(typed: str, label: str) -> bool:
    return bool(NEGATIONS & set(typed.split())) == bool(NEGATIONS & set(label.split()))
