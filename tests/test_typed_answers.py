"""Typed answers, refusals and the main menu: what people type and press, on both platforms."""

from __future__ import annotations

import pytest

from core.matching import fold, pick
from tests.chat import User, options_of
from tests.test_onboarding import register, start

LANGUAGES = ["🇻🇳 Tiếng Việt", "🇬🇧 English"]
CONSENT = ["✅ Đồng ý", "❌ Không đồng ý"]
COMMUNES = ["Xã Suối Dây", "Xã Tân Hà", "Xã Tân Hội", "Thị trấn Tân Châu"]


def test_fold_drops_case_diacritics_emoji_and_punctuation() -> None:
    assert fold("  🇻🇳 Tiếng Việt!! ") == "tieng viet"
    assert fold("Đồng ý.") == "dong y"


@pytest.mark.parametrize(
    ("typed", "labels", "expected"),
    [
        ("tiếng việt", LANGUAGES, 0),
        ("Tieng Viet", LANGUAGES, 0),
        ("english", LANGUAGES, 1),
        ("eng", LANGUAGES, 1),
        ("2.", LANGUAGES, 1),
        ("dong y", CONSENT, 0),
        ("không đồng ý", CONSENT, 1),
        ("khong", CONSENT, 1),
        ("suoi day", COMMUNES, 0),
        ("Tân Hà", COMMUNES, 1),
        ("tan hoi", COMMUNES, 2),
    ],
)
def test_pick_understands_what_people_type(typed: str, labels: list[str], expected: int) -> None:
    assert pick(typed, labels) == expected


@pytest.mark.parametrize(
    ("typed", "labels"),
    [
        ("tân", COMMUNES),  # Tân Hà, Tân Hội or Tân Châu: ask again rather than guess
        ("5", LANGUAGES),
        ("tiếng pháp", LANGUAGES),
        ("🙂", CONSENT),
    ],
)
def test_pick_refuses_what_is_ambiguous_or_absent(typed: str, labels: list[str]) -> None:
    assert pick(typed, labels) is None


async def test_typed_labels_register_a_resident(user: User) -> None:
    await start(user)
    [privacy] = await user.says("tieng viet")
    assert "Thông báo về thông tin cá nhân" in privacy["text"]
    [ask_name] = await user.says("dong y")
    assert "họ và tên" in ask_name["text"]


async def test_a_refusal_shows_the_list_again(user: User) -> None:
    await start(user)
    [refused] = await user.says("tiếng pháp")
    assert "không có trong danh sách" in refused["text"]
    assert options_of(refused, user.platform) == LANGUAGES
    [privacy] = await user.choose("🇻🇳 Tiếng Việt")
    assert "Thông báo về thông tin cá nhân" in privacy["text"]


async def test_a_menu_button_works_after_another_reply(user: User) -> None:
    if user.platform != "telegram":
        pytest.skip("Zalo has no buttons: a number answers the latest list")
    await register(user)
    menu = user.history[-1]
    [_language] = await user.says("/language")
    [me] = await user.send(callback_data="menu:me", message_id=menu["message_id"])
    assert "Nguyễn Văn An" in me["text"]


async def test_vietnamese_aliases_with_or_without_accents(user: User) -> None:
    await register(user)
    [me] = await user.says("/TOI")
    assert "Nguyễn Văn An" in me["text"]
    [language, *_] = await user.says("/ngonngu")
    assert options_of(language, user.platform) == LANGUAGES
    [cancelled, *_] = await user.says("/Hủy")
    assert "hủy" in cancelled["text"].casefold()


async def test_help_lists_aliases_and_only_what_the_user_has(user: User) -> None:
    await register(user)
    [help_text, *_] = await user.says("/trogiup")
    assert "/toi" in help_text["text"] and "/huy" in help_text["text"]
    assert "/khaibao" not in help_text["text"]  # no case: no declaration to point to
