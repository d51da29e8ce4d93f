"""Staff work from a menu of their commands, in their own language, pages included."""

from __future__ import annotations

from bot.app import Service
from core.models import Answers, Declaration
from handlers.notices import symptom_page
from storage.database import Storage
from tests.chat import User, options_of
from tests.conftest import at
from tests.test_casework import a_case, chat_of
from tests.test_groups import service_of


async def test_staff_see_their_commands_as_buttons_that_work(officer: User) -> None:
    [menu] = await officer.says("/start")
    assert "Lệnh dành cho cán bộ" in menu["text"]
    assert options_of(menu, officer.platform) == [
        "📋 Các ca đang theo dõi",
        "⏰ Ai chưa khai báo",
        "➕ Lập ca cách ly mới",
        "🔍 Ảnh cần xem lại",
        "🚨 Cảnh báo chờ tiếp nhận",
        "🏭 Đơn vị và điểm quét QR",
        "🛡 Vai trò của tôi",
        "📣 Phản ánh đang mở",
        "📊 Báo cáo hôm nay",
    ]
    [alerts] = await officer.choose("🚨 Cảnh báo chờ tiếp nhận")
    assert "Không có cảnh báo triệu chứng nào" in alerts["text"]
    await officer.says("/help")
    [enrol] = await officer.choose("➕ Lập ca cách ly mới")
    assert "Họ và tên" in enrol["text"] or "họ và tên" in enrol["text"]


async def test_an_officer_who_chose_english_gets_menu_and_pages_in_english(
    officer: User, storage: Storage, service: Service
) -> None:
    await officer.says("/ngonngu")
    await officer.choose("🇬🇧 English")
    [menu] = await officer.says("/start")
    assert "📋 Cases being followed" in options_of(menu, officer.platform)
    case = await a_case(storage, 1, chat_of(officer))
    fever = Declaration(
        id="d-fever",
        receipt="PAGE2345",
        case_id=case.id,
        area=case.area,
        local_date=at(9, 30).date(),
        slot=None,
        timing="adhoc",
        answers=Answers(fever=True, temperature=38.5),
        submitted_at=at(9, 30),
    )
    page = await symptom_page(service_of(service), case, None, fever)
    assert await storage.declarations.add(fever, page)
    service.wake_dispatchers()
    [text] = await officer.replies()
    assert "🚨 SYMPTOMS — case 1" in text["text"] and "Temperature: 38.5 °C" in text["text"]
