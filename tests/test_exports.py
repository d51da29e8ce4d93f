"""Exports other systems import: every kind and format against the one mapping table (and
docs/exports.md), the export's scope and rights, and the file reaching both platforms."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from bot.app import Service
from core.areas import load_areas
from core.channel import Platform
from core.clock import FixedClock
from core.exports import (
    ExportFormat,
    ExportKind,
    Sources,
    Target,
    dhis2_uid,
    export,
    export_rows,
    header,
    mapping_table,
)
from core.models import Answers, Case, ChatRef, Declaration, LabTest, Role
from core.tracing import TraceRules
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User
from tests.conftest import LOCAL, at, staff_user
from tests.test_casework import DAY, a_case
from tests.test_checkpoints import bot_cli
from tests.test_trace import Town, a_town

DOCS = Path(__file__).parent.parent / "docs" / "exports.md"
STAFF_CHAT = ChatRef(platform=Platform.TELEGRAM, chat_id="-100")


def sources(storage: Storage) -> Sources:
    """What an export reads, over the test database."""
    return Sources(
        cases=storage.cases,
        declarations=storage.declarations,
        people=storage.people,
        visits=storage.visits,
        checkpoints=storage.checkpoints,
        orgs=storage.orgs,
        areas=load_areas(),
        tz=LOCAL,
        rules=TraceRules(),
    )


async def records(storage: Storage) -> Town:
    """Two cases of Xã Tân Hà (one with declarations and a positive test), one of Xã Tân
    Hiệp, and the town's scans: Lan, in quarantine, met Minh and Hoa; Minh met Tuấn."""
    first = await a_case(storage, 1, STAFF_CHAT)
    await storage.cases.add_test(
        first.id, LabTest(kind="pcr", on=DAY, result="dương", by="t", at=at(8))
    )
    for n, answers in enumerate([Answers(), Answers(fever=True, temperature=38.4)]):
        declaration = Declaration(
            id=f"d1-{n}",
            receipt=f"RCPT100{n}",
            case_id=first.id,
            area=first.area,
            local_date=DAY - timedelta(days=1 - n),
            slot="08:00",
            timing="on_time",
            answers=answers,
            submitted_at=at(7, 30, day=26 + n),
        )
        assert await storage.declarations.add(declaration)
    await a_case(storage, 2, STAFF_CHAT)
    await a_case(storage, 3, STAFF_CHAT, area="tan-hiep")
    town = await a_town(storage, Platform.TELEGRAM, at(0, 0, 26))
    lan = town.people["Lê Thị Lan"]
    traced = Case(
        id="c-lan",
        number=4,
        person_id=lan.id,
        area="tan-ha",
        start=DAY,
        end=DAY + timedelta(days=13),
        staff_chat=STAFF_CHAT,
        officer="t",
        created_at=at(9),
    )
    assert await storage.cases.add(traced)
    return town


def read(form: ExportFormat, data: bytes) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and the rows of an exported file, as an importer reads them."""
    if form is ExportFormat.CSV:
        assert data.startswith("\ufeff".encode())  # Excel reads the Vietnamese right
        lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        return lines[0], [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]
    if form is ExportFormat.XLSX:
        book = load_workbook(io.BytesIO(data), read_only=True)
        cells: list[list[Any]] = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
        book.close()
        names = [str(cell) for cell in cells[0]]
        padded = (line + [None] * (len(names) - len(line)) for line in cells[1:])  # empty cells
        return names, [dict(zip(names, line, strict=True)) for line in padded]
    items = json.loads(data)
    return (list(items[0]) if items else []), items


@pytest.mark.parametrize("kind", list(ExportKind))
def test_docs_print_the_mapping_the_exporter_writes(kind: ExportKind) -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for target in Target:
        section = f"### {kind.value} → {target.value}\n\n{mapping_table(kind, target)}\n"
        assert section in docs, f"docs/exports.md is out of date for {kind} → {target}"
        columns = re.findall(r"^\| `([^`]+)` \|", mapping_table(kind, target), re.MULTILINE)
        assert columns == header(kind, target)


@pytest.mark.parametrize("kind", list(ExportKind))
@pytest.mark.parametrize("form", [ExportFormat.CSV, ExportFormat.XLSX, ExportFormat.JSON])
async def test_every_export_has_the_documented_columns(
    storage: Storage, clock: FixedClock, kind: ExportKind, form: ExportFormat
) -> None:
    await records(storage)
    rows = await export_rows(sources(storage), kind, ["tan-ha"], clock.now())
    assert rows
    for target in (Target.OURS, Target.GODATA):
        names, read_rows = read(form, export(kind, form, target, rows))
        assert names == header(kind, target)
        assert len(read_rows) == len(rows)
    if form is not ExportFormat.JSON:
        names, _ = read(form, export(kind, form, Target.DHIS2, rows))
        assert names == header(kind, Target.DHIS2)


async def test_cases_in_go_data_columns(storage: Storage, clock: FixedClock) -> None:
    await records(storage)
    rows = await export_rows(sources(storage), ExportKind.CASES, ["tan-ha"], clock.now())
    _, cases = read(
        ExportFormat.CSV, export(ExportKind.CASES, ExportFormat.CSV, Target.GODATA, rows)
    )
    assert [case["visualId"] for case in cases] == ["KB-1", "KB-2", "KB-4"]
    first = cases[0]
    assert first["firstName"] == "1" and first["lastName"] == "Người thứ"
    assert first["classification"] == "LNG_REFERENCE_DATA_CATEGORY_CASE_CLASSIFICATION_CONFIRMED"
    assert first["dateOfOnset"] == DAY.isoformat()  # the fever declared on 27/11
    assert first["addresses[1][locationId]"] == "tan-ha"
    assert first["addresses[1][phoneNumber]"] == "+84900000001"
    assert (first["dateRanges[1][startDate]"], first["dateRanges[1][endDate]"]) == (
        (DAY - timedelta(days=7)).isoformat(),
        DAY.isoformat(),
    )
    assert cases[1]["classification"].endswith("_SUSPECT") and cases[1]["dateOfOnset"] == ""


async def test_contacts_carry_f1_f2_and_the_exposure(storage: Storage, clock: FixedClock) -> None:
    town = await records(storage)
    rows = await export_rows(sources(storage), ExportKind.CONTACTS, ["tan-ha"], clock.now())
    _, contacts = read(
        ExportFormat.XLSX, export(ExportKind.CONTACTS, ExportFormat.XLSX, Target.OURS, rows)
    )
    by_name = {row["full_name"]: row for row in contacts}
    assert set(by_name) == {"Trần Văn Minh", "Phạm Thị Hoa", "Ngô Văn Tuấn"}
    minh, tuan = by_name["Trần Văn Minh"], by_name["Ngô Văn Tuấn"]
    assert (minh["degree"], minh["case_code"], minh["source_id"]) == ("F1", "KB-4", "c-lan")
    assert minh["places"] == "Nhà ăn ca 1 — Công ty May Tân Hà"
    assert (minh["exposure_start"], minh["exposure_end"]) == (
        "2026-11-26T11:10+07:00",
        "2026-11-26T11:50+07:00",  # the trace adds 15 minutes after her stay
    )
    assert minh["overlap_minutes"] == 40 and minh["last_contact"] == "2026-11-26"
    assert tuan["degree"] == "F2" and tuan["source_id"] == town.people["Trần Văn Minh"].id
    _, godata = read(
        ExportFormat.JSON, export(ExportKind.CONTACTS, ExportFormat.JSON, Target.GODATA, rows)
    )
    linked = {row["firstName"]: row["relationship[persons][0][id]"] for row in godata}
    assert linked == {"Minh": "c-lan", "Hoa": "c-lan", "Tuấn": town.people["Trần Văn Minh"].id}


async def test_dhis2_json_is_a_tracker_payload_whose_records_link(
    storage: Storage, clock: FixedClock
) -> None:
    await records(storage)
    data = sources(storage)
    cases = await export_rows(data, ExportKind.CASES, ["tan-ha"], clock.now())
    followups = await export_rows(data, ExportKind.FOLLOWUPS, ["tan-ha"], clock.now())
    tracked = json.loads(export(ExportKind.CASES, ExportFormat.JSON, Target.DHIS2, cases))
    events = json.loads(export(ExportKind.FOLLOWUPS, ExportFormat.JSON, Target.DHIS2, followups))
    entity = tracked["trackedEntities"][0]
    assert entity["trackedEntityType"] == "KB_PERSON" and entity["orgUnit"] == "tan-ha"
    attributes = {a["attribute"]: a["value"] for a in entity["attributes"]}
    assert attributes["KB_CASE_CODE"] == "KB-1" and attributes["KB_CLASSIFICATION"] == "confirmed"
    [enrollment] = entity["enrollments"]
    assert enrollment["program"] == "KB_HOME_QUARANTINE" and enrollment["status"] == "ACTIVE"
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9]{10}", e["event"]) for e in events["events"])
    assert {e["enrollment"] for e in events["events"]} == {enrollment["enrollment"]}
    fever = events["events"][1]
    values = {v["dataElement"]: v["value"] for v in fever["dataValues"]}
    assert values["KB_FEVER"] == "true" and values["KB_TEMPERATURE"] == "38.4"
    assert dhis2_uid("person", "p1") == entity["trackedEntity"]


async def document_of(message: dict[str, Any]) -> bytes:
    """A file the bot sent: a document on Telegram, a link on Zalo."""
    url = message.get("file_url") or re.search(r"https?://\S+", message["text"])[0]  # type: ignore[index]
    async with httpx.AsyncClient() as http:
        return (await http.get(url)).content


@pytest.fixture
async def exporter(
    sandbox: Sandbox, service: Service, storage: Storage, platform: str, clock: FixedClock
) -> AsyncIterator[User]:
    """Commune staff of Xã Tân Hà, with the records in place."""
    await records(storage)
    user_id = "200021" if platform == "telegram" else "b2c3d4e5f6a721"
    async with staff_user(storage, clock, sandbox, platform, user_id, Role.COMMUNE_STAFF) as staff:
        yield staff


async def test_commune_staff_export_their_commune_only(exporter: User, storage: Storage) -> None:
    working, sent = await exporter.says("/xuat ca csv godata", replies=2)
    assert "Đang chuẩn bị tệp" in working["text"]
    assert "3 dòng" in (sent.get("caption") or sent["text"])
    _, rows = read(ExportFormat.CSV, await document_of(sent))
    assert [row["visualId"] for row in rows] == ["KB-1", "KB-2", "KB-4"]  # not KB-3 (Tân Hiệp)
    [done] = [e for e in await storage.audit.latest(5) if e.action == "export.done"]
    assert done.target == "tan-ha"
    assert done.details == {"kind": "cases", "format": "csv", "mapping": "godata", "rows": "3"}


async def test_buttons_ask_what_was_not_typed(exporter: User) -> None:
    [kind] = await exporter.says("/export")
    assert "Xuất dữ liệu nào?" in kind["text"]
    await exporter.choose("📝 Khai báo sức khỏe tại nhà")
    await exporter.choose("Excel (.xlsx)")
    _, sent = await exporter.choose("DHIS2", replies=2)
    names, rows = read(ExportFormat.XLSX, await document_of(sent))
    assert names == header(ExportKind.FOLLOWUPS, Target.DHIS2) and len(rows) == 2


async def test_a_district_admin_exports_every_commune(
    sandbox: Sandbox, service: Service, storage: Storage, platform: str, clock: FixedClock
) -> None:
    await records(storage)
    user_id = "200022" if platform == "telegram" else "b2c3d4e5f6a722"
    async with staff_user(
        storage, clock, sandbox, platform, user_id, Role.DISTRICT_ADMIN, areas=()
    ) as admin:
        _, sent = await admin.says("/export cases json", replies=2)
    _, rows = read(ExportFormat.JSON, await document_of(sent))
    assert [row["area"] for row in rows] == ["tan-ha", "tan-ha", "tan-ha", "tan-hiep"]


@pytest.mark.parametrize("role", [Role.HEALTH_OFFICER, Role.LEADER, Role.ORG_MANAGER])
async def test_roles_without_the_right_are_refused(
    sandbox: Sandbox,
    service: Service,
    storage: Storage,
    platform: str,
    clock: FixedClock,
    role: Role,
) -> None:
    await records(storage)
    user_id = "200023" if platform == "telegram" else "b2c3d4e5f6a723"
    async with staff_user(storage, clock, sandbox, platform, user_id, role) as staff:
        [refused] = await staff.says("/xuat ca xlsx")
        assert "không có quyền" in refused["text"]
        [asked] = await staff.says("/xuat")
        assert "không có quyền" in asked["text"]
    [entry, _] = await storage.audit.latest(2)
    assert (entry.action, entry.allowed) == ("export.run", False)


async def test_a_typo_gets_the_usage(exporter: User, storage: Storage) -> None:
    [usage] = await exporter.says("/xuat ca pdf")
    assert "Cách dùng: /xuat" in usage["text"]
    assert not [e for e in await storage.audit.latest(5) if e.action.startswith("export")]


async def test_the_command_line_writes_the_file(
    mongo_uri: str, storage: Storage, tmp_path: Path
) -> None:
    await records(storage)
    out = tmp_path / "contacts.csv"
    done = await bot_cli(
        mongo_uri,
        storage,
        tmp_path,
        "export",
        "--kind",
        "followups",
        "--format",
        "csv",
        "--out",
        str(out),
        "--area",
        "Tân Hà",
        "--mapping",
        "godata",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote 2 rows to {out}"
    names, rows = read(ExportFormat.CSV, out.read_bytes())
    assert names == header(ExportKind.FOLLOWUPS, Target.GODATA)
    assert [row["statusId"][-7:] for row in rows] == ["SEEN_OK", "_NOT_OK"]
