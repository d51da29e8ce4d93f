"""Lists sent as spreadsheets, on Telegram (a document) and Zalo (the upload page): worker
lists with their error report and the invitation to link, F1 lists opening cases, bad files."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest
from openpyxl import Workbook, load_workbook

from bot.app import Service
from core.channel import Platform
from core.clock import FixedClock
from core.models import Organisation, Person
from core.tokens import new_id
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User, post_upload, upload_link
from tests.conftest import at, org_manager
from tests.test_onboarding import register

FACTORY = "Công ty TNHH May mặc Tân Hà"
WORKER_HEADERS = ["Họ và tên", "Số điện thoại", "Nơi ở hiện tại", "Loại xét nghiệm"]
WORKER_HEADERS += ["Ngày xét nghiệm", "Kết quả", "Mũi", "Ngày tiêm", "Loại vắc xin"]


def xlsx(rows: list[list[Any]]) -> bytes:
    """A workbook with these rows on its first sheet."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


AN = ["Nguyễn Văn An", "0912 345 678", "Nhà trọ Hoa Mai", "nhanh", "20/11/2026", "âm"]
AN += ["15/10/2026", "Pfizer"]
WORKERS = xlsx(
    [
        WORKER_HEADERS,
        [*AN[:6], 2, *AN[6:]],
        ["Trần Thị Bích", 987654321, "Ký túc xá", "", "", "", "", "", ""],
        ["Lê Văn Cường", "12345", "", "", "", "", "", "", ""],
        ["Phạm Văn Dũng", "0987654321", "", "", "", "", "", "", ""],
    ]
)


@pytest.fixture
async def factory(storage: Storage) -> Organisation:
    """A factory of Xã Tân Hà."""
    org = Organisation(id=new_id(), name=FACTORY, area="tan-ha", created_by="t", created_at=at(6))
    return await storage.orgs.add(org)


@pytest.fixture
async def manager(
    service: Service,
    sandbox: Sandbox,
    storage: Storage,
    clock: FixedClock,
    platform: str,
    factory: Organisation,
) -> AsyncIterator[User]:
    """The factory's manager, chatting on `platform`."""
    async with org_manager(storage, clock, sandbox, platform, factory.id) as person:
        yield person


async def send_file(user: User, data: bytes, filename: str, replies: int) -> list[dict[str, Any]]:
    """Send a file the way the platform allows: a document, or through the upload page."""
    if user.platform is Platform.TELEGRAM:
        return await user.document(data, filename, replies)
    message = next(m for m in reversed(user.history) if "/tep/" in m.get("text", ""))
    async with httpx.AsyncClient() as http:
        response = await post_upload(http, upload_link(message), data, filename)
    assert response.status_code == 200
    return await user.replies(replies)


async def opened(message: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of the XLSX a message carries (a file on Telegram, a link on Zalo)."""
    url = message.get("file_url") or message["text"].split(": ", 1)[1].split()[0]
    async with httpx.AsyncClient() as http:
        data = (await http.get(url)).content
    book = load_workbook(io.BytesIO(data), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    return rows


async def test_an_org_manager_imports_workers_and_gets_the_rows_with_problems_back(
    manager: User, storage: Storage, factory: Organisation, clock: FixedClock
) -> None:
    clock.set(at(9))
    replies = await manager.says("/nhap", 2 if manager.platform is Platform.ZALO else 1)
    assert "Họ và tên, Số điện thoại" in replies[0]["text"]
    report, done = await send_file(manager, WORKERS, "cong-nhan.xlsx", 2)
    problems = await opened(report)
    assert [row[0] for row in problems[1:]] == [4, 5]  # the bad phone, the repeated phone
    assert "Số điện thoại không đúng" in str(problems[1]) and "dòng phía trên" in str(problems[2])
    assert f"Đã nhập 2 người vào danh sách của {FACTORY}" in done["text"]
    workers = await storage.workers.of_org(factory.id)
    assert [(w.name, w.phone) for w in workers] == [
        ("Nguyễn Văn An", "+84912345678"),
        ("Trần Thị Bích", "+84987654321"),
    ]
    an = workers[0]
    assert an.residence == "Nhà trọ Hoa Mai" and an.tests[0].on == date(2026, 11, 20)
    assert an.vaccinations[0].dose == 2 and an.vaccinations[0].vaccine == "Pfizer"


async def test_a_registered_worker_is_asked_and_agreeing_links_the_list(
    user: User, sandbox: Sandbox, manager: User, storage: Storage, factory: Organisation
) -> None:
    if user.platform is Platform.ZALO:
        pytest.skip("only a shared Telegram contact proves a phone")
    await register(user)  # shares 0912 345 678 as a contact: a proven phone
    await manager.says("/nhap")
    await send_file(manager, WORKERS, "cong-nhan.xlsx", 2)
    [invite] = await user.replies()
    assert FACTORY in invite["text"] and "Nguyễn Văn An" in invite["text"]
    accept = next(b["data"] for row in invite["buttons"] for b in row if "Đồng ý" in b["label"])
    other = User(sandbox.url, "telegram", "100002", name="Người khác")
    await register(other, phone="0988 888 888")  # the invitation forwarded to someone else
    [refused] = await other.send(callback_data=accept, message_id=other.history[-1]["message_id"])
    assert "không còn hiệu lực" in refused["text"]
    await other.aclose()
    assert not [w for w in await storage.workers.of_org(factory.id) if w.person_id]
    [linked] = await user.choose("✅ Đồng ý")
    assert f"Đã liên kết với danh sách của {FACTORY}" in linked["text"]
    account = await storage.accounts.get(user.platform, user.user_id)
    assert account is not None
    person = await storage.people.get(account.person_id)
    assert person is not None and person.residence == "Nhà trọ Hoa Mai"
    assert [test.result for test in person.tests] == ["âm"]
    [worker] = [w for w in await storage.workers.of_org(factory.id) if w.person_id]
    assert worker.person_id == person.id


async def test_a_health_officer_puts_an_f1_list_under_quarantine_after_confirming(
    officer: User, storage: Storage, clock: FixedClock
) -> None:
    clock.set(at(9))
    await officer.says("/nhap")
    replies = await officer.choose(
        "🏠 Người tiếp xúc gần (F1) cần cách ly tại nhà",
        2 if officer.platform is Platform.ZALO else 1,
    )
    assert "Họ và tên, Số điện thoại, Xã" in replies[0]["text"]
    contacts = xlsx(
        [
            ["Họ và tên", "Số điện thoại", "Xã", "Ngày tiếp xúc cuối"],
            ["Võ Thị Em", "0911 111 111", "Xã Tân Hà", "25/11/2026"],
            ["Đỗ Văn Phúc", "0922 222 222", "tan ha", ""],
            ["Hồ Văn Giang", "0933 333 333", "Xã Không Có", ""],
        ]
    )
    report, confirm = await send_file(officer, contacts, "f1.xlsx", 2)
    assert "Không có xã" in str(await opened(report))
    assert "Lập ca cách ly tại nhà cho 2 người" in confirm["text"]
    assert await storage.cases.active() == []  # nothing before the confirmation
    done, results = await officer.choose("Có", 2)
    assert "Đã lập 2/2 ca" in done["text"]
    rows = await opened(results)
    assert [row[1] for row in rows[1:]] == ["Võ Thị Em", "Đỗ Văn Phúc"]
    assert all("Mã Zalo KB" in str(row[4]) for row in rows[1:])
    cases = sorted(await storage.cases.active(), key=lambda case: case.number)
    assert [case.end for case in cases] == [date(2026, 12, 8), date(2026, 12, 10)]


def macro_workbook() -> bytes:
    """A workbook carrying a VBA project."""
    buffer = io.BytesIO(xlsx([["Họ và tên", "Số điện thoại"], ["An", "0912345678"]]))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("xl/vbaProject.bin", b"\x00" * 100)
    return buffer.getvalue()


async def test_bad_files_are_refused_and_nothing_is_imported(
    manager: User, storage: Storage, factory: Organisation
) -> None:
    await manager.says("/nhap", 2 if manager.platform is Platform.ZALO else 1)
    again = 2 if manager.platform is Platform.ZALO else 1  # a link is used once: a new one
    refused, *_ = await send_file(manager, macro_workbook(), "ds.xlsx", again)
    assert "macro" in refused["text"]
    refused, *_ = await send_file(manager, b"\x00" * 500, "ds.xlsx", again)
    assert "không phải bảng tính" in refused["text"]
    assert await storage.workers.of_org(factory.id) == []


async def test_a_resident_sending_a_file_is_told_politely(user: User) -> None:
    if user.platform is Platform.ZALO:
        pytest.skip("Zalo users cannot send files")
    [told] = await user.document(xlsx([["a"]]), "ds.xlsx")
    assert "Chỉ cán bộ" in told["text"]


async def test_health_staff_see_and_complete_a_workers_record_in_their_commune(
    officer: User, storage: Storage, clock: FixedClock
) -> None:
    clock.set(at(9))
    person = Person(
        id="w" * 32, name="Mai Văn Tài", phone="+84944444444", area="tan-ha", created_at=at(6)
    )
    await storage.people.add(person)
    [shown] = await officer.says("/congnhan 0944 444 444")
    assert "Mai Văn Tài" in shown["text"] and "(chưa có)" in shown["text"]
    saved, shown = await officer.says("/congnhan 0944444444 tiem 2 15/10/2026 Pfizer", 2)
    assert "Đã cập nhật" in saved["text"] and "Mũi 2: 15/10/2026, Pfizer" in shown["text"]
    await officer.says("/congnhan 0944444444 xn pcr 26/11/2026 am", 2)
    _, shown = await officer.says("/congnhan 0944444444 noio Nhà trọ số 5", 2)
    assert "Nhà trọ số 5" in shown["text"] and "26/11/2026" in shown["text"]
    [wrong] = await officer.says("/congnhan 0944444444 tiem 2 15/10/2099 Pfizer")  # future
    assert "Cách dùng" in wrong["text"]
    stored = await storage.people.get(person.id)
    assert stored is not None and [d.dose for d in stored.vaccinations] == [2]
    await storage.people.enrolled(stored.model_copy(update={"area": "suoi-day"}))
    [hidden] = await officer.says("/congnhan 0944444444")
    assert "Không tìm thấy" in hidden["text"]


async def test_an_org_manager_sees_only_workers_linked_to_their_list(
    manager: User, storage: Storage
) -> None:
    person = Person(
        id="w" * 32, name="Mai Văn Tài", phone="+84944444444", area="tan-ha", created_at=at(6)
    )
    await storage.people.add(person)
    [hidden] = await manager.says("/congnhan 0944444444")
    assert "Không tìm thấy" in hidden["text"]
