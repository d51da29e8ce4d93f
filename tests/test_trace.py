"""Tracing from the staff chat, on Telegram and Zalo: the summary, the XLSX, F2, scope, and
putting the chosen F1s under home quarantine in one step."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook

from bot.app import Service
from core.channel import Platform
from core.clock import FixedClock
from core.models import Account, Checkpoint, CheckpointKind, Organisation, Person, Visit
from core.tokens import new_code, new_id
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User
from tests.conftest import at
from tests.test_checkpoints import bot_cli

DAY = 26


class Town:
    """People who scanned at a factory yesterday, each with a chat account on `platform`."""

    def __init__(self, storage: Storage, platform: Platform) -> None:
        self.storage, self.platform = storage, platform
        self.org = Organisation(
            id=new_id(), name="Công ty May Tân Hà", area="tan-ha", created_by="t", created_at=at(6)
        )
        self.places: dict[str, Checkpoint] = {}
        self.people: dict[str, Person] = {}

    async def place(self, name: str, kind: CheckpointKind = CheckpointKind.CANTEEN) -> None:
        """A checkpoint of the factory."""
        checkpoint = Checkpoint(
            id=new_id(),
            org_id=self.org.id,
            kind=kind,
            name=name,
            area="tan-ha",
            code=new_code(),
            created_by="t",
            created_at=at(6),
        )
        self.places[name] = await self.storage.checkpoints.add(checkpoint)

    async def person(self, name: str, phone: str, user_id: str, area: str = "tan-ha") -> None:
        """A registered person with an account."""
        person = Person(
            id=new_id() * 2, name=name, phone=phone, area=area, created_at=at(6, day=20)
        )
        await self.storage.people.add(person)
        await self.storage.accounts.save(
            Account(
                platform=self.platform,
                user_id=user_id,
                chat_id=user_id,
                person_id=person.id,
                created_at=at(6, day=20),
            )
        )
        self.people[name] = person

    async def visit(self, name: str, place: str, start: datetime, end: datetime) -> None:
        """A closed visit."""
        await self.storage.visits.check_in(
            Visit(
                id=new_id(),
                person_id=self.people[name].id,
                checkpoint_id=self.places[place].id,
                in_at=start,
                due_at=start,
                out_at=end,
                closed="scan",
            )
        )


def ids(platform: Platform, n: int) -> str:
    """Distinct chat ids per platform."""
    return f"50000{n}" if platform is Platform.TELEGRAM else f"e5f6a7b8c9{n}"


async def a_town(storage: Storage, platform: Platform, day: datetime) -> Town:
    """Lan ate at 11:00–11:45 on `day` (local midnight); Minh and Hoa overlapped her; Tuấn
    ate later but met Minh at the gate."""
    made = Town(storage, platform)
    await storage.orgs.add(made.org)
    await made.place("Nhà ăn ca 1")
    await made.place("Cổng chính", CheckpointKind.GATE)
    for n, (name, phone) in enumerate(
        [
            ("Lê Thị Lan", "+84912000001"),
            ("Trần Văn Minh", "+84912000002"),
            ("Phạm Thị Hoa", "+84912000003"),
            ("Ngô Văn Tuấn", "+84912000004"),
        ]
    ):
        await made.person(name, phone, ids(platform, n))

    def hour(h: int, m: int = 0) -> datetime:
        return day + timedelta(hours=h, minutes=m)

    canteen = "Nhà ăn ca 1"
    await made.visit("Lê Thị Lan", canteen, hour(11), hour(11, 45))
    await made.visit("Trần Văn Minh", canteen, hour(11, 10), hour(11, 50))
    await made.visit("Phạm Thị Hoa", canteen, hour(11, 40), hour(12))
    await made.visit("Ngô Văn Tuấn", canteen, hour(14), hour(14, 30))
    await made.visit("Trần Văn Minh", "Cổng chính", hour(15), hour(15, 20))
    await made.visit("Ngô Văn Tuấn", "Cổng chính", hour(15), hour(15, 30))
    return made


@pytest.fixture
async def town(storage: Storage, officer: User) -> Town:
    """The town's scans on 26/11."""
    return await a_town(storage, officer.platform, at(0, 0, DAY))


async def workbook_of(message: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    """The sheets of an XLSX the bot sent (a file on Telegram, a link on Zalo)."""
    url = message.get("file_url") or re.search(r"https?://\S+", message["text"])[0]  # type: ignore[index]
    async with httpx.AsyncClient() as http:
        data = (await http.get(url)).content
    book = load_workbook(io.BytesIO(data), read_only=True)
    sheets = {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}
    book.close()
    return sheets


async def test_a_trace_lists_f1_by_overlap_with_a_workbook_and_f2_on_request(
    officer: User, town: Town, clock: FixedClock
) -> None:
    clock.set(at(9, 0))
    working, summary, sheet, pick = await officer.says("/truyvet 0912 000 001 f2", 4)
    assert "Đang truy vết" in working["text"]
    assert "Truy vết Lê Thị Lan, 14 ngày qua: 1 lượt quét ở 1 điểm" in summary["text"]
    lines = summary["text"].splitlines()
    minh = next(i for i, line in enumerate(lines) if "Trần Văn Minh" in line)
    hoa = next(i for i, line in enumerate(lines) if "Phạm Thị Hoa" in line)
    assert minh < hoa and "40 phút" in lines[minh] and "20 phút" in lines[hoa]
    assert "Ngô Văn Tuấn" not in summary["text"] and "F2: 1 người" in summary["text"]
    sheets = await workbook_of(sheet)
    assert [row[1] for row in sheets["F1"][1:]] == ["Trần Văn Minh", "Phạm Thị Hoa"]
    assert sheets["F2"][1][1] == "Ngô Văn Tuấn" and sheets["F2"][1][-1] == "Trần Văn Minh"
    assert sheets["Lượt quét"][1][0] == "Nhà ăn ca 1 — Công ty May Tân Hà"
    assert "Chọn các F1" in pick["text"]


async def test_the_chosen_f1s_are_put_under_quarantine_and_told_at_once(
    officer: User,
    town: Town,
    clock: FixedClock,
    storage: Storage,
    sandbox: Sandbox,
    service: Service,
) -> None:
    clock.set(at(9, 0))
    await officer.says("/truyvet 0912000001", 4)
    if officer.platform is Platform.TELEGRAM:
        await officer.choose("▫️ 1. Trần Văn Minh")
    else:
        await officer.says("1")
    await officer.choose("🏠 Theo dõi các F1 đã chọn (1)")
    [done] = await officer.choose("Có")
    assert "Đã lập 1 ca" in done["text"] and "Trần Văn Minh" in done["text"]
    assert "đến hết ngày 09/12/2026" in done["text"]  # 14 days: 26/11 to 09/12
    minh = town.people["Trần Văn Minh"]
    case = await storage.cases.active_for_person(minh.id)
    assert case is not None and case.area == "tan-ha" and case.staff_chat.chat_id == officer.user_id
    assert await storage.cases.active_for_person(town.people["Phạm Thị Hoa"].id) is None
    told = User(sandbox.url, officer.platform.value, ids(officer.platform, 1))
    [welcome] = await told.replies()
    assert f"ca số {case.number}" in welcome["text"]
    await told.aclose()


async def test_staff_outside_the_area_and_unknown_people_get_the_same_answer(
    officer: User, town: Town, storage: Storage
) -> None:
    await storage.people.add(
        Person(
            id="b" * 32, name="Võ Văn Bình", phone="+84912000009", area="suoi-day", created_at=at(6)
        )
    )
    [outside] = await officer.says("/truyvet 0912000009")
    [unknown] = await officer.says("/truyvet 0912999999")
    assert "Không tìm thấy «0912 000 009» trong phạm vi phụ trách" in outside["text"]
    assert "Không tìm thấy «0912 999 999» trong phạm vi phụ trách" in unknown["text"]
    [usage] = await officer.says("/truyvet")
    assert "Cách dùng" in usage["text"]


async def test_a_resident_cannot_trace(user: User) -> None:
    [refused] = await user.says("/truyvet 0912000001")
    assert "không có quyền" in refused["text"]


async def test_the_cli_prints_the_summary_and_writes_the_workbook(
    storage: Storage, mongo_uri: str, tmp_path: Path
) -> None:
    local = ZoneInfo("Asia/Ho_Chi_Minh")
    yesterday = datetime.now(UTC).astimezone(local).replace(hour=0, minute=0, second=0)
    await a_town(storage, Platform.TELEGRAM, yesterday - timedelta(days=1))
    out = tmp_path / "f1.xlsx"
    args = ("trace", "--phone", "0912 000 001", "--depth", "2", "--out", str(out))
    done = await bot_cli(mongo_uri, storage, tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert "Truy vết Lê Thị Lan" in done.stdout and "1. Trần Văn Minh" in done.stdout
    book = load_workbook(out, read_only=True)
    assert [row[1] for row in book["F2"].iter_rows(min_row=2, values_only=True)] == ["Ngô Văn Tuấn"]
    book.close()
    unknown = await bot_cli(
        mongo_uri, storage, tmp_path, "trace", "--case", "99", "--out", str(out)
    )
    assert unknown.returncode != 0 and "no case 99" in unknown.stderr
