"""Vietnamese phone numbers: validation and normalisation to +84 form."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s.\-()]")
# Mobile numbers are 9 digits after the country code and start with 3, 5, 7, 8 or 9;
# landlines are 10 digits starting with 2 (area code 2xx since 2017).
_NATIONAL = re.compile(r"(?:[35789]\d{8}|2\d{9})")


def normalize_phone(text: str) -> str | None:
    """Return the number as +84XXXXXXXXX, or None when it is not a Vietnamese number."""
    digits = _SEPARATORS.sub("", text.strip())
    if digits.startswith("+84"):
        national = digits[3:]
    elif digits.startswith("84") and len(digits) >= 11:
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        return None
    return f"+84{national}" if _NATIONAL.fullmatch(national) else None


def display_phone(e164: str) -> str:
    """Show a +84 number the way Vietnamese write it: 0912 345 678, 024 3812 3456."""
    if not e164.startswith("+84") or not _NATIONAL.fullmatch(e164[3:]):
        return e164
    local = "0" + e164[3:]
    if local[1] != "2":
        return f"{local[:4]} {local[4:7]} {local[7:]}"
    # Hanoi (024) and Ho Chi Minh City (028) have 8-digit subscriber numbers, others 7.
    if local[:3] in ("024", "028"):
        return f"{local[:3]} {local[3:7]} {local[7:]}"
    return f"{local[:4]} {local[4:7]} {local[7:]}"


def leading_phone(words: list[str]) -> tuple[str | None, list[str]]:
    """A phone typed at the start of a command, in groups or not ("0912 345 678 …"), and the
    words after it; (None, words) when the words do not start with one."""
    for count in range(len(words), 0, -1):
        phone = normalize_phone("".join(words[:count]))
        if phone:
            return phone, words[count:]
    return None, words
