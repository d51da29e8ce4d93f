"""Message catalogs: Vietnamese first, English second; handlers never hold inline texts."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"


@cache
def catalog(lang: str) -> dict[str, str]:
    """All texts of one language, flattened to dotted keys ("onboarding.name")."""
    raw = resources.files("core").joinpath(f"locales/{lang}.toml").read_text("utf-8")
    return dict(_flatten(tomllib.loads(raw)))


def _flatten(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for key, value in tree.items():
        if isinstance(value, dict):
            items.extend(_flatten(value, f"{prefix}{key}."))
        else:
            items.append((f"{prefix}{key}", str(value)))
    return items


FORMS = ("ong", "ba")  # Vietnamese forms of address a resident may choose; neutral by default


def voice(lang: str, form: str = "") -> str:
    """A language with a chosen form of address ("vi+ba"); the plain language without one."""
    return f"{lang}+{form}" if form in FORMS and lang == DEFAULT_LANGUAGE else lang


def t(lang: str, key: str, **values: object) -> str:
    """The text for `key` in `lang` (Vietnamese when the language is unknown), filled in.

    `lang` may carry a form of address (see `voice`): it fills the texts' {you}, which is
    empty by default so that every text also reads as a neutral sentence.
    """
    base, _, form = lang.partition("+")
    texts = catalog(base if base in LANGUAGES else DEFAULT_LANGUAGE)
    you = texts[f"forms.{form}"] if form in FORMS else ""
    return texts[key].format(you=you, **values)


def window_name(lang: str, slot: str) -> str:
    """A window by its name and deadline ("buổi trưa, hạn 13 giờ"), not by a bare time."""
    hour, minute = (int(part) for part in slot.split(":"))
    part = "morning" if hour < 11 else "noon" if hour < 16 else "evening"
    key = "windows.hour" if minute == 0 else "windows.hour_minute"
    return t(lang, f"windows.{part}", deadline=t(lang, key, hour=hour, minute=f"{minute:02d}"))


def decimal(lang: str, value: float) -> str:
    """One decimal, with the language's separator ("38,5" in Vietnamese)."""
    return f"{value:.1f}".replace(".", t(lang, "windows.decimal_point"))


def edition(version: str) -> str:
    """A privacy notice's version for people: "2026-11" → "11/2026"."""
    year, month = version.split("-")
    return f"{int(month)}/{year}"
