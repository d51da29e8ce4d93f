"""The daily report: sent at 20:00 without asking to leaders, commune staff and bound groups
(a chart that opens, a summary, a workbook with the right counts), once; `/baocao` on demand
with its refusals; the command line writing the file. Figures only: no names, no phones."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook
from PIL import Image

from bot.app import Service
from bot.config import Settings
from core.channel import Platform
from core.clock import FixedClock
from core.daily_report import CaseSpan, Records, figures
from core.models import Ack, Answers, Case, ChatRef, Declaration, Role, StaffChat
from sandbox.client import SandboxClient
from sandbox.server import Sandbox
from scheduler.daily_report import REPORT_PHOTOS
from storage.database import Storage
from tests.chat import User, options_of
from tests.conftest import TEST_SECRET_KEY, at, staff_user
from tests.test_casework import DAY, a_case, a_flagged_declaration
from tests.test_checkpoints import bot_cli
from tests.test_groups import GROUP, NOTHING_COMES
from tests.test_trace import workbook_of

LEADER_IDS = {"telegram": "200011", "zalo": "b2c3d4e5f6a711"}
DISTRICT_LEADER_IDS = {"telegram": "200012", "zalo": "b2c3d4e5f6a712"}
SHEETS = [
    "Tổng hợp",
    "Ca cách ly",
    "Khai báo",
    "Cảnh báo triệu chứng",
    "Quét mã",
    "Thông báo",
    "Phản ánh",
]


async def declared(
    storage: Storage,
    case: Case,
    slot: str,
    timing: str,
    moment: datetime,
    day: date = DAY,
    fever: bool = False,
) -> Declaration:
    """A declaration of `case` for a window, straight in the repository."""
    declaration = Declaration(
        id=f"d{case.number}-{day}-{slot}",
        receipt=f"R{case.number}{day:%d}{slot.replace(':', '')}",
        case_id=case.id,
        area=case.area,
        local_date=day,
        slot=slot,
        timing=timing,
        answers=Answers(fever=fever),
        submitted_at=moment,
    )
    assert await storage.declarations.add(declaration)
    return declaration


async def seed(storage: Storage, chat: ChatRef) -> list[Case]:
    """Three cases in Tân Hà and one in Tân Hiệp; on 27/11 in Tân Hà the 08:00 window has one
    declaration on time, one late, one missing; at 13:00 one on time (with fever, its page
    taken over after 10 minutes) and two missing; at 19:00 all three missing; one flagged
    selfie waits for review."""
    cases = [await a_case(storage, n, chat) for n in (1, 2, 3)]
    cases.append(await a_case(storage, 4, chat, area="tan-hiep"))
    await declared(storage, cases[0], "08:00", "on_time", at(7, 30))
    await declared(storage, cases[1], "08:00", "late", at(9, 0))
    page = await declared(storage, cases[0], "13:00", "on_time", at(12, 0), fever=True)
    await storage.declarations.acknowledge(page.id, Ack(by="telegram:1", at=at(12, 10)))
    await declared(storage, cases[3], "08:00", "on_time", at(7, 45))
    await a_flagged_declaration(storage, cases[1], 9, at(9, 5))
    return cases


@pytest.fixture
def control(tg: SandboxClient, zl: SandboxClient, platform: str) -> SandboxClient:
    """The control API of the platform under test."""
    return tg if platform == "telegram" else zl


@pytest.fixture
async def leader(
    sandbox: Sandbox, service: Service, storage: Storage, platform: str, clock: FixedClock
) -> AsyncIterator[User]:
    """The leader of Xã Tân Hà: aggregated figures only."""
    async with staff_user(
        storage, clock, sandbox, platform, LEADER_IDS[platform], Role.LEADER, name="Chủ tịch xã"
    ) as member:
        yield member


async def fetched(message: dict[str, Any]) -> bytes:
    """The bytes of a photo the bot sent (Telegram's file, the image Zalo fetched)."""
    async with httpx.AsyncClient() as http:
        return (await http.get(str(message["file_url"]))).content


def caption_of(message: dict[str, Any]) -> str:
    """A photo's caption as the chat shows it."""
    return str(message.get("caption") or message.get("text") or "")


async def check_report(chart: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """The chart opens at 960×540 and the workbook has every topic; returns the sheets."""
    assert chart["kind"] == "photo"
    image = Image.open(io.BytesIO(await fetched(chart)))
    assert image.format == "PNG" and image.size == (960, 540)
    sheets = await workbook_of(document)
    assert list(sheets) == SHEETS
    return sheets


def tan_ha_counts(sheets: dict[str, Any]) -> None:
    """The seeded figures of 27/11 in Tân Hà, in the workbook."""
    day = "27/11/2026"
    windows = [row[2:] for row in sheets["Khai báo"] if row[0] == day]
    assert windows == [(3, 1, 1, 1), (3, 1, 0, 2), (3, 0, 0, 3)]
    assert sheets["Ca cách ly"][-1] == (day, 3, 0, 0)
    assert sheets["Cảnh báo triệu chứng"][1] == (1, 1, 0, 10.0, 10.0)
    summary = dict(sheets["Tổng hợp"][1:])
    assert summary["Đang cách ly tại nhà"] == 3 and summary["Ảnh cần xem lại"] == 1


def no_personal_data(texts: list[str], cases: list[Case]) -> None:
    """None of the residents' names or phones appear."""
    joined = "\n".join(texts)
    for number in range(1, len(cases) + 1):
        assert f"Người thứ {number}" not in joined and f"90{number:07d}" not in joined
    assert "Ấp Tân Lợi" not in joined


def cells(sheets: dict[str, Any]) -> list[str]:
    """Every cell of a workbook as text."""
    return [str(value) for rows in sheets.values() for row in rows for value in row]


async def test_the_report_arrives_at_eight_in_the_evening_once(
    leader: User,
    officer: User,
    service: Service,
    storage: Storage,
    clock: FixedClock,
    control: SandboxClient,
    platform: str,
) -> None:
    cases = await seed(storage, ChatRef(platform=officer.platform, chat_id=officer.user_id))
    group = ChatRef(platform=Platform(platform), chat_id=GROUP[platform])
    await storage.staff_chats.bind(
        StaffChat(chat=group, areas=["tan-ha"], bound_by="test", bound_at=clock.now())
    )
    clock.set(at(19, 59))
    await service.daily_report()
    assert await storage.db["outbox"].count_documents({}) == 0  # not yet
    clock.set(at(20, 0))
    await service.daily_report()
    for chat in (leader.user_id, officer.user_id, GROUP[platform]):
        chart, document = await control.wait_for(chat, 2)
        assert "Báo cáo ngày 27/11/2026 — Xã Tân Hà" in caption_of(chart)
        assert "2 đúng giờ, 1 trễ, 6 bỏ lỡ" in caption_of(chart)
        sheets = await check_report(chart, document)
        tan_ha_counts(sheets)
        if chat == leader.user_id:
            no_personal_data([caption_of(chart), *cells(sheets)], cases)
    queued = await storage.db["outbox"].count_documents({})
    clock.set(at(20, 1))
    await service.daily_report()  # the next tick sends nothing more
    await asyncio.sleep(NOTHING_COMES)
    assert await storage.db["outbox"].count_documents({}) == queued == 6
    for chat in (leader.user_id, officer.user_id, GROUP[platform]):
        assert len(await control.messages(chat)) == 2


async def test_a_bot_down_at_eight_sends_that_evening_and_not_the_next_morning(
    officer: User, service: Service, storage: Storage, clock: FixedClock, control: SandboxClient
) -> None:
    await seed(storage, ChatRef(platform=officer.platform, chat_id=officer.user_id))
    clock.set(at(6, 0, day=28))  # down all evening of 27/11, back the next morning
    await service.daily_report()
    assert await storage.db["outbox"].count_documents({}) == 0
    clock.set(at(22, 30, day=28))  # down at 20:00 on 28/11, back at 22:30
    await service.daily_report()
    chart, document = await control.wait_for(officer.user_id, 2)
    assert "Báo cáo ngày 28/11/2026 — Xã Tân Hà" in caption_of(chart)
    await check_report(chart, document)


async def test_a_reports_files_are_deleted_a_week_later(
    officer: User, service: Service, storage: Storage, clock: FixedClock, control: SandboxClient
) -> None:
    await seed(storage, ChatRef(platform=officer.platform, chat_id=officer.user_id))
    clock.set(at(20, 0))
    await service.daily_report()
    await control.wait_for(officer.user_id, 2)
    files = {"case_id": REPORT_PHOTOS}
    first = [document["_id"] async for document in storage.db["selfies"].find(files)]
    assert len(first) == 2 and all(":2026-11-27:" in name for name in first)
    clock.set(at(20, 0, day=28) + timedelta(days=6))  # 4/12: the 27/11 files are a week old
    await service.daily_report()
    await control.wait_for(officer.user_id, 2)
    kept = [document["_id"] async for document in storage.db["selfies"].find(files)]
    assert len(kept) == 2 and all(":2026-12-04:" in name for name in kept)


async def test_a_report_on_demand_for_the_caller_s_commune_and_the_district(
    leader: User,
    service: Service,
    storage: Storage,
    sandbox: Sandbox,
    clock: FixedClock,
    platform: str,
) -> None:
    cases = await seed(storage, ChatRef(platform=leader.platform, chat_id=leader.user_id))
    clock.set(at(21, 0))
    [menu] = await leader.says("/start")
    assert "📊 Báo cáo hôm nay" in options_of(menu, leader.platform)
    working, chart, document = await leader.choose("📊 Báo cáo hôm nay", 3)
    assert "Đang lập báo cáo" in working["text"]
    tan_ha_counts(await check_report(chart, document))
    async with staff_user(
        storage, clock, sandbox, platform, DISTRICT_LEADER_IDS[platform], Role.LEADER, areas=()
    ) as district:
        _, chart, document = await district.says("/baocao 27/11/2026", 3)
        assert "Huyện Tân Châu" in caption_of(chart)
        sheets = await check_report(chart, document)
        assert sheets["Ca cách ly"][-1] == ("27/11/2026", 4, 0, 0)
        no_personal_data([caption_of(chart), *cells(sheets)], cases)


async def test_bad_requests_are_refused_politely(
    leader: User, officer: User, service: Service, storage: Storage, clock: FixedClock
) -> None:
    await seed(storage, ChatRef(platform=officer.platform, chat_id=officer.user_id))
    [future] = await officer.says("/baocao 28/11/2026")
    assert "chưa tới" in future["text"]
    [bad] = await officer.says("/baocao 31/02/2026")
    assert "ngày/tháng/năm" in bad["text"]
    [elsewhere] = await officer.says("/baocao 27/11/2026 Tân Hiệp")
    assert "không có quyền" in elsewhere["text"]
    [unknown] = await officer.says("/baocao Tân Mỹ")
    assert "Không tìm thấy xã" in unknown["text"]
    [person] = await leader.says("/baocao 0900000001")
    assert "không có thông tin từng người" in person["text"]
    [case] = await leader.says("/baocao 27/11 ca 2")
    assert "không có thông tin từng người" in case["text"]
    assert await storage.db["outbox"].count_documents({}) == 0


async def test_the_cli_writes_the_workbook_and_the_chart(
    storage: Storage, mongo_uri: str, tmp_path: Path
) -> None:
    local = ZoneInfo("Asia/Ho_Chi_Minh")
    yesterday = datetime.now(UTC).astimezone(local).date() - timedelta(days=1)
    chat = ChatRef(platform=Platform.TELEGRAM, chat_id="-100")
    [case] = [await a_case(storage, 1, chat, end=yesterday + timedelta(days=7))]
    await storage.db["cases"].update_one(
        {"_id": case.id}, {"$set": {"start": (yesterday - timedelta(days=3)).isoformat()}}
    )
    out, chart = tmp_path / "report.xlsx", tmp_path / "chart.png"
    day = f"{yesterday:%d/%m/%Y}"
    args = ("report", "--date", day, "--area", "tan-ha", "--out", str(out), "--chart", str(chart))
    done = await bot_cli(mongo_uri, storage, tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert f"Báo cáo ngày {day} — Xã Tân Hà" in done.stdout
    assert re.search(r"Đang cách ly tại nhà: 1\b", done.stdout)
    book = load_workbook(out, read_only=True)
    assert book.sheetnames == SHEETS
    assert list(book["Ca cách ly"].iter_rows(values_only=True))[-1] == (day, 1, 0, 0)
    book.close()
    assert Image.open(chart).size == (960, 540)
    future = f"{yesterday + timedelta(days=2):%d/%m/%Y}"
    refused = await bot_cli(
        mongo_uri, storage, tmp_path, "report", "--date", future, "--out", str(out)
    )
    assert refused.returncode != 0 and "today or an earlier day" in refused.stderr


def test_figures_count_f1s_alerts_pages_and_reports_by_age() -> None:
    settings = Settings(_env_file=None, secret_key=TEST_SECRET_KEY)
    now = at(20, 0).astimezone(UTC)
    enrolled = at(10, 0).astimezone(UTC)
    traced = CaseSpan("c1", DAY, DAY + timedelta(days=13), enrolled, None, traced=True)
    other = CaseSpan("c2", DAY - timedelta(days=3), DAY, at(8, 0, day=24), None)
    records = Records(
        cases=[traced, other],
        scans={"cp1": 4, "cp2": 0},
        alerts={"a1": (9, 10), "a2": (0, 0)},
        open_reports=[now - timedelta(hours=2), now - timedelta(days=2), now - timedelta(days=5)],
    )
    report = figures(records, "tan-ha", "Xã Tân Hà", DAY, now, settings.schedule)
    assert (report.f1_enrolled, report.today.active, report.today.new) == (1, 2, 1)
    assert [w.due for w in report.windows if w.day == DAY] == [1, 2, 2]  # c1 enrolled at 10:00
    assert (report.scans, report.idle_checkpoints, report.alerts) == (4, 1, 2)
    assert report.delivery_rate == 0.9 and report.reports_by_age == [1, 1, 1]
