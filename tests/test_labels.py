"""Labels residents read: windows by name and deadline, decimals the Vietnamese way."""

from __future__ import annotations

import pytest

from core.texts import decimal, edition, window_name


@pytest.mark.parametrize(
    ("slot", "vietnamese", "english"),
    [
        ("08:00", "buổi sáng, hạn 8 giờ", "morning, due 8:00"),
        ("13:00", "buổi trưa, hạn 13 giờ", "midday, due 13:00"),
        ("19:00", "buổi tối, hạn 19 giờ", "evening, due 19:00"),
        ("18:30", "buổi tối, hạn 18 giờ 30", "evening, due 18:30"),
    ],
)
def test_a_window_is_named_with_its_deadline(slot: str, vietnamese: str, english: str) -> None:
    assert window_name("vi", slot) == vietnamese
    assert window_name("en", slot) == english


def test_decimals_use_the_language_separator() -> None:
    assert decimal("vi", 38.5) == "38,5"
    assert decimal("en", 38.5) == "38.5"


def test_the_privacy_version_reads_as_a_month() -> None:
    assert edition("2026-11") == "11/2026"
