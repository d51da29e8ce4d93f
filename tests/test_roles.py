"""Every staff role against every kind of data: a table of the staff commands, each tried by
all six roles on a record in their commune (1) and one in another commune (2).

Allowed in scope: a real answer about the record. Out of scope: "not found" or refused.
Not allowed: the gate's polite refusal. Whatever is refused changes nothing stored.
Add a command by adding a `Row`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any

from bot.app import Service
from core.channel import Platform
from core.clock import FixedClock
from core.models import (
    Answers,
    ChatRef,
    Declaration,
    FieldReport,
    Organisation,
    ReportCategory,
    Role,
    Staff,
    Worker,
)
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import Message, User, options_of
from tests.conftest import at
from tests.test_casework import a_case

A, C, H = Role.DISTRICT_ADMIN, Role.COMMUNE_STAFF, Role.HEALTH_OFFICER
M, L, T = Role.ORG_MANAGER, Role.LEADER, Role.TEAM_MEMBER  # leaders: figures, /whoami
CASE_WORK = frozenset({A, C, H})
FIGURES = CASE_WORK | {L}  # the daily report's aggregated figures
EVERY_ROLE = frozenset(Role)
DENIED = "không có quyền dùng lệnh này"
NOT_FOUND = ("không tìm thấy", "không có phản ánh #")
AREAS = {1: "tan-ha", 2: "suoi-ngo"}
PAGES_CHAT = ChatRef(platform=Platform.TELEGRAM, chat_id="-999")


class Kind(Enum):
    """What a command is about."""

    ONE = "one record, named in the command: tried with record 1, then record 2"
    LIST = "the records of the caller's scope: 1 is listed, 2 only for the whole district"
    NONE = "no record: a real answer or the refusal"


@dataclass(frozen=True)
class Row:
    """A staff command, who may use it, and what a real answer contains ("" for any);
    `command` and `answer` take a record's fields: {n}, {phone}, {receipt}, {org}, {commune}."""

    command: str
    roles: frozenset[Role]
    answer: str
    kind: Kind = Kind.ONE


ROWS = [
    Row("/cases", CASE_WORK | {T}, "người thứ {n}", Kind.LIST),
    Row("/case {n}", CASE_WORK, "người thứ {n}"),
    Row("/missed", CASE_WORK | {T}, "người thứ {n}", Kind.LIST),
    Row("/enroll", CASE_WORK, "họ và tên", Kind.NONE),
    Row("/extend {n} 2", CASE_WORK, "ca số {n} được gia hạn"),
    Row("/test {n} pcr 26/11/2026 am", CASE_WORK, "xét nghiệm cho ca số {n}"),
    Row("/end {n} khỏi bệnh", CASE_WORK, "kết thúc ca cách ly số {n}"),
    Row("/trace {n}", CASE_WORK, "đang truy vết"),
    Row("/review", CASE_WORK, "cần xem lại", Kind.NONE),
    Row("/ack", CASE_WORK, "{receipt}", Kind.LIST),
    Row("/ack {receipt}", CASE_WORK, "{receipt}"),
    Row("/places", CASE_WORK | {M}, "{org}", Kind.LIST),
    Row("/worker {phone}", CASE_WORK | {M}, "người thứ {n}"),
    Row("/import", CASE_WORK | {M}, "", Kind.NONE),
    Row("/alert", frozenset({A, C}), "soạn thông báo", Kind.NONE),
    Row("/reports", CASE_WORK, "#{n} ·", Kind.LIST),
    Row("/phieu {n}", CASE_WORK, "nội dung phản ánh {n}"),
    Row("/audit", frozenset({A}), "nhật ký", Kind.NONE),
    Row("/staff", frozenset({A, C}), "cán bộ mẫu {n}", Kind.LIST),
    Row("/whoami", EVERY_ROLE, "vai trò", Kind.NONE),
    Row("/toila", EVERY_ROLE, "vai trò", Kind.NONE),
    Row("/bindchat", CASE_WORK, "trong nhóm", Kind.NONE),
    Row("/baocao", FIGURES, "báo cáo ngày 27/11/2026", Kind.NONE),
    Row("/report {commune}", FIGURES, "báo cáo ngày 27/11/2026 — xã {commune}"),
    Row("/xuat ca csv", frozenset({A, C}), "đã xuất xong", Kind.NONE),
    Row("/export cases csv", frozenset({A, C}), "đã xuất xong", Kind.NONE),
]
WATCHED = ("cases", "declarations", "reports", "staff", "staff_chats", "alerts", "orgs", "workers")


# The fields of records 1 and 2 that commands and answers name.
COMMUNES = {1: "Tân Hà", 2: "Suối Ngô"}
RECORDS = {
    n: {
        "n": n,
        "phone": f"090{n:07d}",
        "receipt": f"PAGE234{n + 1}",
        "org": f"Nhà máy {n}",
        "commune": COMMUNES[n],
    }
    for n in AREAS
}


async def the_district(storage: Storage, clock: FixedClock) -> None:
    """Per commune: a case with a symptom page waiting, an organisation whose worker list
    names the case's person, a citizen's report and a staff member."""
    now = clock.now()
    for n, area in AREAS.items():
        fields = RECORDS[n]
        case = await a_case(storage, n, PAGES_CHAT, area=area)
        fever = Declaration(
            id=f"d{n}",
            receipt=fields["receipt"],
            case_id=case.id,
            area=area,
            local_date=date(2026, 11, 27),
            slot=None,
            timing="adhoc",
            answers=Answers(fever=True, temperature=38.5),
            submitted_at=at(8, 0),
        )
        assert await storage.declarations.add(fever)
        org = Organisation(
            id=f"00000000000{n}", name=fields["org"], area=area, created_by="test", created_at=now
        )
        await storage.orgs.add(org)
        worker = Worker(
            id=f"{org.id}/+8490{n:07d}",
            org_id=org.id,
            phone=f"+8490{n:07d}",
            name=f"Người thứ {n}",
            added_by="test",
            added_at=now,
        )
        await storage.workers.upsert(worker)
        await storage.workers.link(worker.id, case.person_id)
        report = FieldReport(
            id=f"r{n}",
            number=0,
            platform=Platform.TELEGRAM,
            user_id=f"9{n}",
            chat_id=f"9{n}",
            person_id=case.person_id,
            area=area,
            category=ReportCategory.EPIDEMIC,
            text=f"Nội dung phản ánh {n}",
            created_at=now,
            waiting_since=now,
        )
        stored, _ = await storage.reports.add(report)
        assert stored.number == n
        await storage.staff.add(
            member(Platform.TELEGRAM, f"99000{n}", H, area, f"Cán bộ mẫu {n}", now)
        )


def member(platform: Platform, user_id: str, role: Role, area: str, name: str, now: Any) -> Staff:
    """A staff record of `role` in `area` (district admins and org managers have no area;
    an org manager runs organisation 1, a team member the hamlet of the cases' people)."""
    return Staff(
        platform=platform,
        user_id=user_id,
        role=role,
        areas=[] if role in (A, M) else [area],
        orgs=["000000000001"] if role is M else [],
        hamlet="Ấp Tân Lợi" if role is T else "",
        name=name,
        added_by="test",
        added_at=now,
    )


async def snapshot(storage: Storage) -> dict[str, list[dict[str, Any]]]:
    """Everything a refused command must leave as it was."""
    return {
        name: [doc async for doc in storage.db[name].find({}).sort("_id", 1)] for name in WATCHED
    }


async def said(staff: User, service: Service, text: str) -> str:
    """Everything the bot answered to `text` (texts, captions, button labels), casefolded."""
    first = await staff.says(text)
    assert service.inbox is not None
    await service.inbox.idle()
    rest = await staff.client.messages(staff.user_id, after=first[-1]["seq"])
    messages: list[Message] = [*first, *(await staff.replies(len(rest)) if rest else [])]
    return "\n".join(
        part
        for m in messages
        for part in (m.get("text") or "", m.get("caption") or "", *options_of(m, "telegram"))
    ).casefold()


def refused(answer: str) -> bool:
    """Whether an answer is the gate's refusal or "not found"."""
    return DENIED in answer or any(marker in answer for marker in NOT_FOUND)


async def check(row: Row, role: Role, staff: User, service: Service, storage: Storage) -> list[str]:
    """What went wrong with one row for one role ([] when nothing did)."""
    fields = RECORDS
    problems: list[str] = []
    tries = [1] if row.kind is Kind.NONE else [1, 2] if row.kind is Kind.ONE else [0]
    for n in tries:
        values = fields[n or 1]
        command = row.command.format(**values)
        before = await snapshot(storage)
        answer = await said(staff, service, command)
        everywhere = role is A
        if role not in row.roles:
            expected_ok = DENIED in answer and await snapshot(storage) == before
        elif row.kind is Kind.LIST:
            shows = [row.answer.format(**fields[m]).casefold() in answer for m in (1, 2)]
            expected_ok = not refused(answer) and shows == [True, everywhere]
        elif n == 1 or everywhere:
            expected_ok = not refused(answer) and row.answer.format(**values).casefold() in answer
        else:
            expected_ok = refused(answer) and await snapshot(storage) == before
        if not expected_ok:
            problems.append(f"{role.value} {command!r}: {answer[:300]!r}")
    return problems


async def test_every_role_against_every_kind_of_data(
    sandbox: Sandbox, service: Service, storage: Storage, clock: FixedClock, platform: str
) -> None:
    await the_district(storage, clock)
    problems: list[str] = []
    for index, role in enumerate(Role):
        user_id = f"8800{index}" if platform == "telegram" else f"e0e0e0e0e0e0e0e0e0{index:02d}"
        await storage.staff.add(
            member(
                Platform(platform), user_id, role, "tan-ha", f"Người dùng {role.value}", clock.now()
            )
        )
        staff = User(sandbox.url, platform, user_id, name=role.value)
        for row in ROWS:
            problems += await check(row, role, staff, service, storage)
        await staff.aclose()
        # The next role finds the symptom pages waiting again, as this one did.
        await storage.db["declarations"].update_many({}, {"$set": {"needs_ack": True, "ack": None}})
    assert not problems, "\n".join(problems)


async def test_a_hamlet_team_lists_only_its_hamlet_without_phones_or_health_details(
    sandbox: Sandbox, service: Service, storage: Storage, clock: FixedClock, platform: str
) -> None:
    await the_district(storage, clock)
    await a_case(storage, 3, PAGES_CHAT)  # Xã Tân Hà too, in another hamlet
    await storage.db["people"].update_one({"_id": "p3"}, {"$set": {"address": "Ấp Hội Thạnh"}})
    user_id = "88010" if platform == "telegram" else "e0e0e0e0e0e0e0e0e1"
    await storage.staff.add(member(Platform(platform), user_id, T, "tan-ha", "Tổ ấp", clock.now()))
    team = User(sandbox.url, platform, user_id, name="Tổ ấp Tân Lợi")

    cases = await said(team, service, "/cases")
    assert "#1 người thứ 1" in cases and "người thứ 3" not in cases
    assert "🚨" not in cases.split("chú thích")[0]  # a symptom page waits for case 1
    missed = await said(team, service, "/missed")
    assert "người thứ 1" in missed and "người thứ 3" not in missed
    assert "0900 000 001" not in missed and "+8490" not in missed
    for refused_command in ("/case 1", "/extend 1 2", "/ack PAGE2342", "/worker 0900000001"):
        assert DENIED in await said(team, service, refused_command), refused_command
    await team.aclose()
