"""Registration through the emulators, on Telegram and on Zalo."""

from __future__ import annotations

from bot.app import Service
from core.phone import display_phone, normalize_phone
from storage.database import Storage
from tests.chat import User, options_of
from tests.test_outbox import eventually


async def start(user: User) -> None:
    """Open the conversation the way each platform does: /start, or any first message on Zalo."""
    welcome, language = await user.says("/start" if user.platform == "telegram" else "Xin chào", 2)
    assert "khai báo y tế" in welcome["text"]
    assert options_of(language, user.platform) == ["🇻🇳 Tiếng Việt", "🇬🇧 English"]


async def register(user: User, phone: str = "0912 345 678", area: str = "Xã Suối Dây") -> None:
    """Go through onboarding in Vietnamese up to the main menu."""
    await start(user)
    [privacy] = await user.choose("🇻🇳 Tiếng Việt")
    assert "Thông báo về thông tin cá nhân" in privacy["text"]
    [ask_name] = await user.choose("✅ Đồng ý")
    assert "họ và tên" in ask_name["text"]
    [ask_phone] = await user.says("  Nguyễn   Văn An ")
    assert "số điện thoại" in ask_phone["text"]
    [ask_area] = await user.share_phone(phone)
    assert area in options_of(ask_area, user.platform)
    [confirm] = await user.choose(area)
    assert (
        "Nguyễn Văn An" in confirm["text"]
        and display_phone(str(normalize_phone(phone))) in confirm["text"]
    )
    done, menu = await user.choose("✅ Đúng, xác nhận", 2)
    assert "Đăng ký thành công" in done["text"]
    assert "👤 Thông tin của tôi" in options_of(menu, user.platform)


async def test_resident_registers(user: User, storage: Storage) -> None:
    await register(user)

    account = await storage.accounts.get(user.platform, user.user_id)
    assert account is not None and account.language == "vi"
    person = await storage.people.get(account.person_id)
    assert person is not None
    assert (person.name, person.phone, person.area) == ("Nguyễn Văn An", "+84912345678", "suoi-day")
    assert person.consent is not None and person.consent.version == "2026-11"


async def test_me_shows_the_stored_data(user: User) -> None:
    await register(user)
    [me] = await user.says("/me")
    assert "Nguyễn Văn An" in me["text"] and "0912 345 678" in me["text"]
    assert "Xã Suối Dây" in me["text"] and "/xoa" in me["text"]
    assert "cập nhật tháng 11/2026" in me["text"] and "ca số" not in me["text"]
    assert f"🆔 Mã tài khoản {user.platform.capitalize()}: {user.user_id}" in me["text"]


async def test_me_tells_anyone_their_account_id_for_staff_rights(user: User) -> None:
    [me] = await user.says("/toi")
    assert "Chưa đăng ký" in me["text"] and f": {user.user_id} (cán bộ huyện" in me["text"]


async def test_declining_consent_stores_nothing(user: User, storage: Storage) -> None:
    await start(user)
    await user.choose("🇻🇳 Tiếng Việt")
    [declined] = await user.choose("❌ Không đồng ý")

    assert "không lưu bất kỳ thông tin nào" in declined["text"]

    async def nothing_stored() -> bool:
        # The reply leaves before the conversation is cleared: wait for the clearing.
        collections = ("people", "channel_accounts", "conversations")
        return all([await storage.db[name].count_documents({}) == 0 for name in collections])

    await eventually(nothing_stored)


async def test_invalid_phone_is_refused_and_asked_again(
    user: User, storage: Storage, service: Service
) -> None:
    await start(user)
    await user.choose("🇻🇳 Tiếng Việt")
    await user.choose("✅ Đồng ý")
    await user.says("Trần Thị Bình")
    [refused] = await user.says("12345")
    assert "«12345» chưa đúng" in refused["text"] and "dấu cách" in refused["text"]
    if user.platform == "telegram":  # the one-tap share button is still there
        assert refused["ask"] == "contact"
    [ask_area] = await user.says("0987.654 321")
    assert "xã, thị trấn" in ask_area["text"]
    assert service.inbox is not None
    await service.inbox.idle()  # the conversation is stored after the reply is sent
    conversation = await storage.conversations.get(user.platform, user.user_id)
    assert conversation.data["phone"] == "+84987654321"


async def test_english_onboarding(user: User) -> None:
    await start(user)
    [privacy] = await user.choose("🇬🇧 English")
    assert "Privacy notice" in privacy["text"]
    [ask_name] = await user.choose("✅ I agree")
    assert "full name" in ask_name["text"]


async def test_cancel_in_the_middle_leaves_nothing(
    user: User, storage: Storage, service: Service
) -> None:
    await start(user)
    await user.choose("🇻🇳 Tiếng Việt")
    await user.choose("✅ Đồng ý")
    [cancelled] = await user.says("/cancel")
    assert "/start" in cancelled["text"]
    assert service.inbox is not None
    await service.inbox.idle()  # the conversation is stored after the reply is sent
    assert await storage.db["conversations"].count_documents({}) == 0
    [reply] = await user.says("/me")
    assert "Chưa đăng ký" in reply["text"]


async def test_help_and_language_mid_flow_return_to_the_question(user: User) -> None:
    await start(user)
    await user.choose("🇻🇳 Tiếng Việt")
    await user.choose("✅ Đồng ý")
    help_text, asked_again = await user.says("/help", 2)
    assert "/start" in help_text["text"] and "họ và tên" in asked_again["text"]
    await user.says("/language")
    changed, name_in_english = await user.choose("🇬🇧 English", 2)
    assert changed["text"] == "Language set to English."
    assert "full name" in name_in_english["text"]


async def test_name_must_be_letters(user: User) -> None:
    await start(user)
    await user.choose("🇻🇳 Tiếng Việt")
    await user.choose("✅ Đồng ý")
    [refused] = await user.says("12345")
    assert "Họ tên chưa hợp lệ" in refused["text"]


async def test_unknown_command_and_sticker_get_polite_answers(user: User) -> None:
    await register(user)
    [unknown] = await user.says("/abc")
    assert "/abc" in unknown["text"] and "/trogiup" in unknown["text"]
    not_read, menu = await user.send(2, sticker=True)
    assert "chưa đọc được" in not_read["text"]
    assert "👤 Thông tin của tôi" in options_of(menu, user.platform)


async def test_delete_erases_person_and_account(user: User, storage: Storage) -> None:
    await register(user)
    await user.says("/delete")
    [done] = await user.choose("🗑 Xóa thông tin")
    assert "Đã xóa" in done["text"]
    assert await storage.db["people"].count_documents({}) == 0
    assert await storage.db["channel_accounts"].count_documents({}) == 0
    [entry] = await storage.audit.latest(1)
    assert entry.action == "person.erase"


async def test_a_resident_may_choose_to_be_called_ong_or_ba(user: User, storage: Storage) -> None:
    await start(user)
    await user.choose("🇻🇳 Tiếng Việt")
    await user.choose("✅ Đồng ý")
    await user.says("Nguyễn Thị Lan")
    await user.share_phone("0912 345 678")
    [confirm] = await user.choose("Xã Suối Dây")
    assert "Xưng hô" not in confirm["text"]  # neutral unless asked for
    assert "👵 Gọi tôi là «bà»" in options_of(confirm, user.platform)
    [confirm] = await user.choose("👵 Gọi tôi là «bà»")
    assert "🙋 Xưng hô: bà" in confirm["text"]
    assert "👵 Gọi tôi là «bà»" not in options_of(confirm, user.platform)
    done, _menu = await user.choose("✅ Đúng, xác nhận", 2)
    assert "Xin cảm ơn bà Nguyễn Thị Lan" in done["text"]
    account = await storage.accounts.get(user.platform, user.user_id)
    assert account is not None and account.form == "ba"


async def test_english_has_no_form_of_address_question(user: User) -> None:
    await start(user)
    await user.choose("🇬🇧 English")
    await user.choose("✅ I agree")
    await user.says("Nguyen Thi Lan")
    await user.share_phone("0912 345 678")
    [confirm] = await user.choose("Xã Suối Dây")
    assert options_of(confirm, user.platform) == ["✅ Yes, confirm", "✏️ Start over"]
