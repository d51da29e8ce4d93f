"""A resident's data rights on Telegram and Zalo: /mydata sends everything about them (and
nothing about anyone else) as a JSON file and a workbook; withdrawing consent stops alerts,
scans and reports, but not what an active quarantine case requires; agreeing again restores."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from typing import Any

import httpx
from openpyxl import load_workbook

from bot.app import Service
from core.channel import Platform
from core.clock import FixedClock
from core.models import (
    Answers,
    Card,
    Case,
    ChatRef,
    Checkpoint,
    Consent,
    Declaration,
    Organisation,
    Person,
    Visit,
)
from core.tokens import new_code, new_id
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import Message, User, options_of
from tests.conftest import at
from tests.test_alerts import HEADLINE, an_alert, subscribe, texts_to, until_report
from tests.test_cards import a_gate, be_the_gate
from tests.test_field_reports import RESOLVED, TAN_HA, press, send_report
from tests.test_onboarding import register, start
from tests.test_quarantine import SELFIE, declare_without_symptoms
from tests.test_scans import NO, a_place, answer_daily, scan

OTHER = "Trần Văn Bình"
OTHER_PHONE = "+84987654321"
FACE = [0.4242] * 128


async def person_of(storage: Storage, user: User) -> Person:
    """The person the user's chat account belongs to."""
    account = await storage.accounts.get(user.platform, user.user_id)
    assert account is not None
    person = await storage.people.get(account.person_id)
    assert person is not None
    return person


def a_case(number: int, person_id: str, proxies: list[str]) -> Case:
    """An active case enrolled this morning, for two weeks."""
    created = at(8, 0)
    return Case(
        id=f"case-{number}",
        number=number,
        person_id=person_id,
        area="tan-ha",
        start=created.date(),
        end=created.date() + timedelta(days=13),
        staff_chat=ChatRef(platform=Platform.TELEGRAM, chat_id="-1007"),
        officer="telegram:200002",
        reference_face=FACE,
        reference_selfie=f"selfie-{number}",
        proxies=proxies,
        created_at=created,
    )


def a_declaration(case_id: str, n: int, temperature: float, by: str = "") -> Declaration:
    """A declaration with a selfie, made at 08:3n."""
    return Declaration(
        id=f"{case_id}-decl-{n}",
        receipt=f"RC{n}{case_id[-1]}XXXXX"[:8],
        case_id=case_id,
        area="tan-ha",
        local_date=at(8).date(),
        slot=None,
        timing="adhoc",
        answers=Answers(temperature=temperature),
        selfie_id=f"{case_id}-selfie-{n}",
        declared_by=by,
        submitted_at=at(8, 30 + n),
    )


async def a_history(storage: Storage, user: User) -> None:
    """The user's case (one declaration made by their helper Bình), a scan; Bình's own case,
    for which the user declares as his helper, and Bình's scan elsewhere."""
    me = (await person_of(storage, user)).id
    other = "person-binh"
    await storage.people.add(
        Person(
            id=other,
            name=OTHER,
            phone=OTHER_PHONE,
            area="tan-ha",
            consent=Consent(version="2026-11", at=at(7)),
            created_at=at(7),
        )
    )
    assert await storage.cases.add(a_case(1, me, [other]))
    assert await storage.cases.add(a_case(2, other, [me]))
    await storage.declarations.add(a_declaration("case-1", 1, 37.2))
    await storage.declarations.add(a_declaration("case-1", 2, 37.5, by=other))
    await storage.declarations.add(a_declaration("case-2", 3, 39.4, by=me))
    org = Organisation(
        id="0000000000aa", name="Chợ Tân Hà", area="tan-ha", created_by="t", created_at=at(6)
    )
    await storage.orgs.add(org)
    stall, gate = await a_place(storage, org, "Dãy sạp rau"), await a_place(storage, org, "Cổng")
    for visitor, place in ((me, stall), (other, gate)):
        await storage.visits.check_in(
            Visit(
                id=f"visit-{visitor}",
                person_id=visitor,
                checkpoint_id=place.id,
                in_at=at(7, 10),
                due_at=at(9, 10),
            )
        )


async def file_of(message: Message) -> bytes:
    """A file the bot sent: an attachment on Telegram, a download link on Zalo."""
    url = message.get("file_url") or re.search(r"https?://\S+", message["text"])[0]  # type: ignore[index]
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert response.status_code == 200, (url, response.status_code, response.text[:200])
    return response.content


def sheets_of(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of each sheet of a workbook."""
    book = load_workbook(io.BytesIO(data), read_only=True)
    sheets = {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}
    book.close()
    return sheets


async def test_my_data_holds_all_of_mine_and_nothing_of_anyone_else(
    user: User, storage: Storage, clock: FixedClock
) -> None:
    clock.set(at(9, 0))
    await register(user)
    await a_history(storage, user)
    me = (await person_of(storage, user)).id
    await storage.audit.append("telegram:299999", "case.view", True, target="case-1", person=me)

    intro, workbook, data = await user.says("/dulieucuatoi", 3)
    assert "1 ca cách ly, 2 lần khai báo sức khỏe, 1 lượt quét mã QR" in intro["text"]
    assert "Ảnh chụp không gửi kèm" in intro["text"] and "khai hộ người khác" in intro["text"]
    raw = await file_of(data)
    exported = json.loads(raw)
    assert exported["profile"][0]["name"] == "Nguyễn Văn An"
    assert exported["profile"][0]["consent_version"] == "2026-11"
    assert exported["profile"][0]["helps_declare_for"] == 1
    assert [case["case"] for case in exported["cases"]] == [1]
    declared = sorted(
        (d["temperature"], d["by_helper"], d["photo"]) for d in exported["declarations"]
    )
    assert declared == [(37.2, False, True), (37.5, True, True)]
    assert [visit["place"] for visit in exported["visits"]] == ["Dãy sạp rau"]
    assert [s["areas"] for s in exported["subscriptions"]] == ["Xã Suối Dây"]
    [viewing] = exported["viewings"]
    assert (
        viewing["who"] == "Một cán bộ nay không còn phụ trách" and viewing["what"] == "xem ca số 1"
    )
    text = raw.decode()
    for foreign in (OTHER, OTHER_PHONE, "person-binh", "39.4", "Cổng", "0.4242", "selfie"):
        assert foreign not in text

    sheets = sheets_of(await file_of(workbook))
    assert sheets["Hồ sơ"][0][:2] == ("Họ tên", "Điện thoại")
    assert sheets["Hồ sơ"][1][0] == "Nguyễn Văn An"
    assert len(sheets["Khai báo sức khỏe"]) == 3  # the header and my two declarations
    assert sheets["Lượt quét QR"][1][0] == "Dãy sạp rau"
    assert "đang cách ly" in sheets["Ca cách ly"][1]
    assert sheets["Cán bộ đã xem"][1][1:] == ("Một cán bộ nay không còn phụ trách", "xem ca số 1")
    cells = " ".join(str(cell) for rows in sheets.values() for row in rows for cell in row)
    assert OTHER not in cells and "39.4" not in cells and "Cổng" not in cells
    entry = await storage.db["audit"].find_one({"action": "person.export"})
    assert entry is not None and entry["target"] == (await person_of(storage, user)).id


async def test_my_data_once_every_ten_minutes(user: User, clock: FixedClock) -> None:
    clock.set(at(9, 0))
    await register(user)
    await user.says("/mydata", 3)
    clock.advance(timedelta(minutes=3))
    [refused] = await user.says("/mydata")
    assert "Xin chờ khoảng 10 phút" in refused["text"]
    clock.advance(timedelta(minutes=10))
    intro, _workbook, _data = await user.says("/mydata", 3)
    assert "Dữ liệu của tôi" in intro["text"]


async def test_the_menu_and_me_lead_to_my_data_and_withdrawal(user: User) -> None:
    await register(user)
    _already, menu = await user.says("/start", 2)
    assert "📂 Tải về dữ liệu của tôi" in options_of(menu, user.platform)
    intro, _workbook, _data = await user.choose("📂 Tải về dữ liệu của tôi", 3)
    assert "Dữ liệu của tôi" in intro["text"]
    [me] = await user.says("/toi")
    assert "/dulieucuatoi" in me["text"] and "/rutdongy" in me["text"]
    [help_text] = await user.says("/trogiup")
    assert "/dulieucuatoi (hoặc /mydata)" in help_text["text"]
    assert "/rutdongy (hoặc /withdraw)" in help_text["text"]


async def withdraw(user: User, replies: int = 1) -> list[Message]:
    """/rutdongy, then confirm."""
    [confirm] = await user.says("/rutdongy")
    assert "Thông tin đã lưu vẫn còn, không bị xóa. Muốn xóa hẳn, gõ /xoa" in confirm["text"]
    return await user.choose("↩️ Rút lại sự đồng ý", replies)


async def test_after_withdrawal_no_alert_no_scan_no_report_until_agreeing_again(
    user: User,
    officer: User,
    service: Service,
    storage: Storage,
    sandbox: Sandbox,
    clock: FixedClock,
) -> None:
    clock.set(at(9, 0))
    await register(user)
    area = (await person_of(storage, user)).area
    neighbour = await subscribe(storage, clock, user.platform, 1, area=area)
    org = Organisation(
        id="0000000000bb", name="Nhà máy", area="tan-ha", created_by="t", created_at=at(6)
    )
    await storage.orgs.add(org)
    canteen: Checkpoint = await a_place(storage, org, "Nhà ăn")

    [done] = await withdraw(user)
    assert "Đã ghi nhận việc rút lại sự đồng ý lúc 09:00 27/11/2026" in done["text"]
    person = await person_of(storage, user)
    assert person.consent is not None and person.consent.version == "2026-11"
    assert person.consent.withdrawn_at is not None
    [me] = await user.says("/toi")
    assert "Đã rút lại sự đồng ý lúc 09:00 27/11/2026" in me["text"]

    await an_alert(storage, clock, officer, areas=(area,))
    await until_report(service, officer, clock)
    assert any(HEADLINE in text for text in await texts_to(sandbox, user.platform, neighbour))
    assert not any(
        HEADLINE in text for text in await texts_to(sandbox, user.platform, user.user_id)
    )

    [refused] = await scan(user, service, canteen)
    assert "Đã rút lại sự đồng ý nên chưa làm được việc này" in refused["text"]
    assert await storage.db["visits"].count_documents({}) == 0
    [refused] = await user.says("/phananh")
    assert "Đã rút lại sự đồng ý" in refused["text"]
    assert await storage.db["conversations"].count_documents({"flow": "field_report"}) == 0

    [notice] = await user.choose("✅ Đồng ý lại")
    assert "Thông báo về thông tin cá nhân" in notice["text"]
    [back] = await user.choose("✅ Đồng ý")
    assert "Đã ghi nhận sự đồng ý" in back["text"]
    person = await person_of(storage, user)
    assert person.consent is not None and person.consent.given
    receipt, _intro, _question = await scan(user, service, canteen, 3)
    assert "Đã ghi nhận VÀO" in receipt["text"]
    await answer_daily(user, NO, NO, NO)
    await an_alert(storage, clock, officer, areas=(area,))
    await until_report(service, officer, clock)
    assert any(HEADLINE in text for text in await texts_to(sandbox, user.platform, user.user_id))


async def test_cancel_or_keeping_consent_changes_nothing(user: User, storage: Storage) -> None:
    await register(user)
    await user.says("/rutdongy")
    cancelled, _menu = await user.says("/huy", 2)
    assert "Đã hủy" in cancelled["text"]
    await user.says("/rutdongy")
    kept, _menu = await user.choose("✅ Vẫn đồng ý", 2)
    assert "vẫn đồng ý như trước" in kept["text"]
    consent = (await person_of(storage, user)).consent
    assert consent is not None and consent.given
    [report] = await user.says("/phananh")
    assert "Đã rút lại" not in report["text"]


async def test_during_quarantine_reminders_and_declaring_go_on_until_the_case_ends(
    user: User,
    officer: User,
    service: Service,
    storage: Storage,
    sandbox: Sandbox,
    clock: FixedClock,
) -> None:
    clock.set(at(9, 0))
    await register(user)
    person = await person_of(storage, user)
    case = a_case(1, person.id, []).model_copy(
        update={"reference_face": None, "reference_selfie": None}
    )
    assert await storage.cases.add(case)

    [confirm] = await user.says("/rutdongy")
    assert "vẫn phải khai báo sức khỏe mỗi ngày" in confirm["text"]
    assert "10/12/2026" in confirm["text"]
    [done] = await user.choose("↩️ Rút lại sự đồng ý")
    assert "vẫn cần khai báo sức khỏe mỗi ngày như cũ đến hết ngày 10/12/2026" in done["text"]

    clock.set(at(11, 30))
    await service.tick()
    [reminder] = await user.replies()
    assert "khai báo sức khỏe buổi trưa" in reminder["text"]
    receipt = await declare_without_symptoms(user, SELFIE)
    assert "Gửi lúc: 11:30 27/11/2026" in str(receipt["text"])
    assert service.selfie_checks is not None
    await service.selfie_checks.idle()

    assert await storage.cases.end(case.id, "Hết thời gian theo dõi", at(12, 0))
    before = len(await texts_to(sandbox, user.platform, user.user_id))
    for moment in (at(18, 30), at(7, 30, day=28), at(11, 30, day=28)):
        clock.set(moment)
        await service.tick()
    await an_alert(storage, clock, officer, areas=(person.area,))
    await until_report(service, officer, clock)
    assert len(await texts_to(sandbox, user.platform, user.user_id)) == before


async def test_after_withdrawal_staff_news_of_a_report_and_a_card_at_a_gate_stop(
    user: User, officer: User, storage: Storage, clock: FixedClock
) -> None:
    clock.set(at(9, 0))
    await register(user, area=TAN_HA)
    number = await send_report(user, "Có người tụ tập đông ở chợ")
    await officer.replies()  # the notice of the new report
    await withdraw(user)

    [done] = await press(officer, number, RESOLVED)
    assert f"#{number}" in done["text"]
    news = {"chat_id": user.user_id, "key": {"$regex": "^report:"}}
    assert await storage.db["outbox"].count_documents(news) == 0

    person = await person_of(storage, user)
    card = Card(id=new_id(), person_id=person.id, code=new_code(), created_by="t", created_at=at(6))
    await storage.cards.add(card)
    await a_gate(storage)
    await be_the_gate(officer)
    [refused] = await officer.says(card.code.lower())
    assert "đã rút lại sự đồng ý" in refused["text"]
    assert await storage.db["visits"].count_documents({}) == 0


async def test_a_helper_who_withdraws_still_declares_for_the_case_they_help_with(
    user: User, service: Service, storage: Storage, clock: FixedClock
) -> None:
    clock.set(at(9, 0))
    await register(user)
    helper = await person_of(storage, user)
    await storage.people.add(
        Person(
            id="person-binh",
            name=OTHER,
            phone=OTHER_PHONE,
            area="tan-ha",
            consent=Consent(version="2026-11", at=at(7)),
            created_at=at(7),
        )
    )
    case = a_case(2, "person-binh", [helper.id]).model_copy(
        update={"reference_face": None, "reference_selfie": None}
    )
    assert await storage.cases.add(case)
    [confirm] = await user.says("/rutdongy")
    assert "Đang khai báo hộ người cách ly" in confirm["text"]
    [done] = await user.choose("↩️ Rút lại sự đồng ý")
    assert "Việc khai báo hộ người đang cách ly vẫn tiếp tục" in done["text"]
    clock.set(at(11, 30))
    await service.tick()
    [reminder] = await user.replies()
    assert OTHER in reminder["text"] and "khai báo sức khỏe buổi trưa" in reminder["text"]
    receipt = await declare_without_symptoms(user, SELFIE)
    assert "Gửi lúc: 11:30 27/11/2026" in str(receipt["text"])
    assert service.selfie_checks is not None
    await service.selfie_checks.idle()
    [exported] = (await user.says("/mydata", 3))[2:]
    profile = json.loads(await file_of(exported))["profile"][0]
    assert profile["consent_withdrawn_at"] and profile["helps_declare_for"] == 1


async def test_english_speakers_get_english_headers(user: User) -> None:
    await start(user)
    await user.choose("🇬🇧 English")
    await user.choose("✅ I agree")
    await user.says("Nguyen Van An")
    await user.share_phone("0912 345 678")
    await user.choose("Xã Suối Dây")
    await user.choose("✅ Yes, confirm", 2)
    intro, workbook, _data = await user.says("/mydata", 3)
    assert "Here is everything we hold about you" in intro["text"]
    sheets = sheets_of(await file_of(workbook))
    assert sheets["Profile"][0][:2] == ("Name", "Phone")
    [confirm] = await user.says("/withdraw")
    assert "Do you really want to withdraw your consent?" in confirm["text"]
