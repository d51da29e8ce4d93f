"""Pure logic: phone numbers, text splitting, commands, catalogs, choices, areas, tokens."""

from __future__ import annotations

import json
import re
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.areas import load_areas
from core.channel import Button, Incoming, Kind, Platform, parse_command, split_text
from core.phone import display_phone, normalize_phone
from core.texts import LANGUAGES, catalog, t
from core.tokens import InvalidToken, Keyring, new_code, normalize_code, sign, verify
from handlers.context import resolve_choice


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("0912 345 678", "+84912345678"),
        ("0912.345.678", "+84912345678"),
        ("+84 912-345-678", "+84912345678"),
        ("84912345678", "+84912345678"),
        ("0387654321", "+84387654321"),
        ("0276 3123 456", "+842763123456"),  # Tây Ninh landline
        ("091234567", None),  # a digit short
        ("0123456789", None),  # old 11-digit prefixes are gone
        ("912345678", None),  # no leading 0 or country code
        ("gọi tôi", None),
        ("", None),
    ],
)
def test_phone_numbers(typed: str, normalised: str | None) -> None:
    assert normalize_phone(typed) == normalised


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        ("+84912345678", "0912 345 678"),
        ("+842763123456", "0276 312 3456"),  # Tây Ninh landline
        ("+842438123456", "024 3812 3456"),  # Hà Nội: 8-digit subscriber numbers
        ("+1 555 0100", "+1 555 0100"),  # not ours: shown as stored
    ],
)
def test_phones_are_shown_the_way_vietnamese_write_them(e164: str, shown: str) -> None:
    assert display_phone(e164) == shown


def test_split_text_keeps_lines_whole_and_respects_the_limit() -> None:
    lines = [f"dòng {i} " + "x" * 90 for i in range(50)]
    chunks = split_text("\n".join(lines), 2000)
    assert all(len(chunk) <= 2000 for chunk in chunks)
    assert "\n".join(chunks) == "\n".join(lines)
    assert all(chunk.split("\n")[0].startswith("dòng") for chunk in chunks)


def test_split_text_cuts_a_single_overlong_line() -> None:
    assert [len(c) for c in split_text("a" * 4500, 2000)] == [2000, 2000, 500]
    assert split_text("ngắn", 2000) == ["ngắn"]


def test_parse_command() -> None:
    assert parse_command("/start inv_ABC-123") == ("start", "inv_ABC-123")
    assert parse_command("/Help@KhaiBaoBot") == ("help", "")
    assert parse_command("xin chào") is None
    assert parse_command("/ ") is None


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    vietnamese, english = catalog("vi"), catalog("en")
    assert vietnamese.keys() == english.keys()
    for key, text in vietnamese.items():
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        # {you} (a chosen Ông/Bà) is Vietnamese only: English sentences need no form of address.
        english_fields = {n for _, n, _, _ in string.Formatter().parse(english[key]) if n}
        assert fields - {"you"} == english_fields, key


def test_unknown_language_falls_back_to_vietnamese() -> None:
    assert t("fr", "common.cancelled") == t("vi", "common.cancelled")
    assert set(LANGUAGES) == {"vi", "en"}


def incoming(kind: Kind, text: str = "", data: str = "") -> Incoming:
    """A minimal update for choice resolution."""
    return Incoming(
        Platform.ZALO, "c", "u", kind, "k", datetime.now(UTC), text=text, button_data=data
    )


OFFERED = [Button("🇻🇳 Tiếng Việt", "lang:vi"), Button("🇬🇧 English", "lang:en")]


def test_choices_by_number_label_or_button() -> None:
    assert resolve_choice(incoming(Kind.TEXT, "2"), OFFERED) == "lang:en"
    assert resolve_choice(incoming(Kind.TEXT, " 1. "), OFFERED) == "lang:vi"
    assert resolve_choice(incoming(Kind.TEXT, "🇬🇧 english"), OFFERED) == "lang:en"
    assert resolve_choice(incoming(Kind.TEXT, "3"), OFFERED) == ""
    assert resolve_choice(incoming(Kind.BUTTON, data="lang:vi"), OFFERED) == "lang:vi"
    assert resolve_choice(incoming(Kind.BUTTON, data="area:x"), OFFERED) is None  # stale


def test_another_district_replaces_the_area_file(tmp_path: Path) -> None:
    path = tmp_path / "areas.json"
    path.write_text(
        json.dumps(
            {
                "district": "Huyện Dương Minh Châu",
                "areas": [{"code": "cau-khoi", "name": "Xã Cầu Khởi"}],
            }
        )
    )
    areas = load_areas(path)
    assert areas.district == "Huyện Dương Minh Châu" and areas.name("cau-khoi") == "Xã Cầu Khởi"
    assert len(load_areas().areas) == 12


def test_area_codes_must_be_unique(tmp_path: Path) -> None:
    path = tmp_path / "areas.json"
    path.write_text(json.dumps({"district": "X", "areas": [{"code": "a", "name": "A"}] * 2}))
    with pytest.raises(ValueError, match="unique"):
        load_areas(path)


OLD_KEY, NEW_KEY = b"o" * 40, b"n" * 40
NOW = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)


def test_a_token_fits_a_deep_link_and_says_which_record_and_version() -> None:
    token = sign(Keyring(NEW_KEY), "cp", "0123456789ab", version=3)
    assert len(f"cp_{token}") <= 64 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    claim = verify(Keyring(NEW_KEY), "cp", token, NOW)
    assert (claim.id, claim.version, claim.expires_at) == ("0123456789ab", 3, None)


def test_a_rotated_key_keeps_old_tokens_valid_until_it_is_retired_for_good() -> None:
    old_poster = sign(Keyring(OLD_KEY), "cp", "0123456789ab")
    rotated = Keyring(NEW_KEY, retired=(OLD_KEY,))
    assert verify(rotated, "cp", old_poster, NOW).id == "0123456789ab"
    with pytest.raises(InvalidToken, match="forged"):
        verify(Keyring(NEW_KEY), "cp", old_poster, NOW)


@pytest.mark.parametrize("damage", ["kind", "flip", "truncate", "garbage"])
def test_forged_or_damaged_tokens_are_refused(damage: str) -> None:
    token = sign(Keyring(NEW_KEY), "inv", "0123456789ab", NOW + timedelta(hours=1))
    forged = {
        "kind": (token, "cp"),
        "flip": (token[:10] + ("A" if token[10] != "A" else "B") + token[11:], "inv"),
        "truncate": (token[:-2], "inv"),
        "garbage": ("!!not-base64!!", "inv"),
    }[damage]
    with pytest.raises(InvalidToken, match="forged"):
        verify(Keyring(NEW_KEY), forged[1], forged[0], NOW)


def test_an_expired_token_is_refused_as_expired() -> None:
    token = sign(Keyring(NEW_KEY), "inv", "0123456789ab", NOW + timedelta(minutes=5))
    with pytest.raises(InvalidToken, match="expired"):
        verify(Keyring(NEW_KEY), "inv", token, NOW + timedelta(minutes=6))


def test_codes_are_ten_characters_and_typed_loosely() -> None:
    code = new_code()
    assert len(code) == 10 and code.startswith("KB")
    typed = f" {code[:5].lower()} - {code[5:]} "
    assert normalize_code(typed) == code
    assert normalize_code("KB1234567") is None and normalize_code("KB0000000O") is None
