"""Lists staff send as spreadsheets: an organisation's workers, or F1s to put in quarantine.

Telegram users send the file; Zalo users get a one-time upload page. The file is checked
before anything is stored (core/spreadsheets.py): rows with problems come back in an error
report file, the others are imported. F1 lists are confirmed before cases are opened.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from core.channel import Button, ChannelError, Kind, Platform, TooLarge
from core.models import ChatRef, LabTest, Organisation, Staff, Vaccination, Worker
from core.phone import display_phone
from core.spreadsheets import (
    CONTACT_COLUMNS,
    WORKER_COLUMNS,
    Checked,
    ImportRow,
    SheetRefused,
    describe_refusal,
    error_report,
    read_rows,
    validate,
    xlsx_bytes,
)
from handlers.context import Context
from handlers.enrolment import enrolled_record, open_case, verified_person, welcome_registered
from handlers.flow import END, Flow, Step, begin, yes_no
from handlers.invitations import issue_invite
from handlers.page_links import upload_link
from handlers.places import orgs_in_scope
from handlers.registry import REGISTRY
from handlers.rights import may, may_manage
from handlers.staff import authorize
from handlers.worker_lists import invite_worker

WORKERS, CONTACTS = "workers", "contacts"
MAX_CONTACTS = 500  # F1 rows kept for the confirmation; longer lists are split


@REGISTRY.command("import", "nhap", staff=True)
async def import_command(ctx: Context) -> None:
    """/nhap: what the list is (when there is a choice), then the file."""
    staff = await authorize(ctx, "place.manage")
    if staff is not None:
        data: dict[str, object] = {}
        await begin(ctx, IMPORT, data=data, step=await _next_step(ctx, staff, data))


async def file_received(ctx: Context) -> None:
    """A file outside any flow: imported at once when it can only be one list (an org
    manager of one organisation); otherwise the user says which list first."""
    staff = await ctx.staff_member()
    if staff is None or not may(staff, "place.manage"):
        await ctx.say("imports.staff_only")
        return
    data: dict[str, Any] = {}
    if await _next_step(ctx, staff, data) == "file":
        ctx.conversation.data = data
        await _import_file(ctx)
        return
    await ctx.say("imports.choose_first")
    await begin(ctx, IMPORT, data=data, step=await _next_step(ctx, staff, data))


async def _next_step(ctx: Context, staff: Staff, data: dict[str, Any]) -> str:
    """The first question not answered yet (filling in the answers there is no choice for)."""
    if "kind" not in data and not may(staff, "case.enroll"):
        data["kind"] = WORKERS
    if "kind" not in data:
        return "kind"
    if data["kind"] == WORKERS and "org" not in data:
        orgs = await orgs_in_scope(ctx, staff)
        if len(orgs) != 1:
            return "org"
        data["org"] = orgs[0].id
    return "file"


async def ask_kind(ctx: Context) -> None:
    """Workers of an organisation, or F1s to put in home quarantine."""
    buttons = [
        [Button(ctx.text("imports.kind_workers"), f"kind:{WORKERS}")],
        [Button(ctx.text("imports.kind_contacts"), f"kind:{CONTACTS}")],
    ]
    await ctx.say("imports.kind", buttons=buttons)


async def take_kind(ctx: Context) -> str | None:
    """Remember what the list is."""
    kind, staff = ctx.choice.removeprefix("kind:"), await ctx.staff_member()
    if kind not in (WORKERS, CONTACTS) or staff is None:
        await ctx.choose_again()
        return None
    ctx.conversation.data["kind"] = kind
    return await _next_step(ctx, staff, ctx.conversation.data)


async def ask_org(ctx: Context) -> None:
    """Whose workers: the organisations the user runs."""
    staff = await ctx.staff_member()
    orgs = await orgs_in_scope(ctx, staff) if staff else []
    if not orgs:
        await ctx.say("places.no_orgs")
        return
    await ctx.say("imports.org", buttons=[[Button(org.name, f"org:{org.id}")] for org in orgs])


async def take_org(ctx: Context) -> str | None:
    """Remember the organisation."""
    if not ctx.choice.startswith("org:"):
        await ctx.choose_again()
        return None
    ctx.conversation.data["org"] = ctx.choice.removeprefix("org:")
    return "file"


async def ask_file(ctx: Context) -> None:
    """The file, with the columns it needs; on Zalo, the link to the upload page."""
    kind = ctx.conversation.data["kind"]
    await ctx.say(f"imports.send_{kind}")
    await _zalo_link(ctx)


async def _zalo_link(ctx: Context) -> None:
    """Zalo users send files through a one-time page of ours."""
    if ctx.incoming.platform is Platform.ZALO:
        await ctx.say("imports.zalo_link", link=await upload_link(ctx))


async def take_file(ctx: Context) -> str | None:
    """Import the file; an unreadable one may be sent again (on Zalo, with a new link)."""
    following = await _import_file(ctx)
    if following is None:
        await _zalo_link(ctx)
    return following


async def _import_file(ctx: Context) -> str | None:
    """Check the file, report its problems, then import workers or ask to confirm the F1s."""
    data = ctx.conversation.data
    checked = await _checked(ctx, str(data["kind"]))
    if checked is None:
        return None
    if checked.problems:
        await _send(ctx, error_report(checked.problems, ctx.lang), "loi", "imports.report")
    if data["kind"] == WORKERS:
        org = await _org(ctx)
        if org is not None:
            await _workers(ctx, org, checked.good)
        return END
    if not checked.good:
        await ctx.say("imports.nothing")
        return END
    if len(checked.good) > MAX_CONTACTS:
        await ctx.say("imports.too_many_contacts", limit=MAX_CONTACTS)
        return None
    data["rows"] = [_stored(row) for row in checked.good]
    return "confirm"


async def _checked(ctx: Context, kind: str) -> Checked | None:
    """The file's rows, checked; None (the user told why) when it cannot be read."""
    document = ctx.incoming.document
    if ctx.incoming.kind is not Kind.DOCUMENT or document is None:
        await ctx.say("imports.file_expected")
        return None
    try:
        raw = await document.download()
    except TooLarge:
        await ctx.say("sheet.too_big")
        return None
    except ChannelError:
        await ctx.say("imports.download_failed")
        return None
    services = ctx.services
    staff = await ctx.staff_member()
    default = staff.areas[0] if staff and len(staff.areas) == 1 else ""
    org = await _org(ctx, quiet=True)
    columns = WORKER_COLUMNS if kind == WORKERS else CONTACT_COLUMNS

    def check() -> Checked:
        table = read_rows(raw, document.filename)
        return validate(
            table, columns, services.areas, services.today(), org.area if org else default
        )

    try:
        return await asyncio.to_thread(check)
    except SheetRefused as refused:
        await ctx.send(describe_refusal(ctx.lang, refused))
        return None


async def _org(ctx: Context, quiet: bool = False) -> Organisation | None:
    """The organisation of a worker list, if the user still runs it."""
    org_id = ctx.conversation.data.get("org")
    org = await ctx.services.orgs.get(str(org_id)) if org_id else None
    if org is None or org.retired or not may_manage(await ctx.staff_member(), org):
        if not quiet:
            await ctx.say("places.gone")
        return None
    return org


async def _workers(ctx: Context, org: Organisation, rows: list[ImportRow]) -> None:
    """Put each row on the list; a linked person's record gets the tests and doses too."""
    services, now = ctx.services, ctx.services.clock.now()
    linked = invited = 0
    for row in rows:
        tests, doses = _records(ctx, row)
        worker = await services.workers.upsert(
            Worker(
                id=f"{org.id}/{row.phone}",
                org_id=org.id,
                phone=row.phone,
                name=row.name,
                residence=row.residence,
                tests=tests,
                vaccinations=doses,
                added_by=ctx.actor,
                added_at=now,
            )
        )
        if worker.person_id:
            await services.people.add_records(worker.person_id, row.residence, tests, doses)
            linked += 1
        elif (person := await verified_person(services, row.phone)) and await invite_worker(
            services, worker, person
        ):
            invited += 1
    await services.audit.append(
        ctx.actor, "worker.import", True, target=org.id, details={"rows": str(len(rows))}
    )
    await ctx.say(
        "imports.workers_done", org=org.name, added=len(rows), linked=linked, invited=invited
    )


def _records(ctx: Context, row: ImportRow) -> tuple[list[LabTest], list[Vaccination]]:
    now = ctx.services.clock.now()
    tests = (
        [LabTest(kind=row.test.kind, on=row.test.on, result=row.test.result, by=ctx.actor, at=now)]
        if row.test
        else []
    )
    doses = (
        [
            Vaccination(
                dose=row.vaccination.dose,
                on=row.vaccination.on,
                vaccine=row.vaccination.vaccine,
                by=ctx.actor,
                at=now,
            )
        ]
        if row.vaccination
        else []
    )
    return tests, doses


def _stored(row: ImportRow) -> dict[str, str]:
    """What an F1 row needs until it is confirmed."""
    start = row.start.isoformat() if row.start else ""
    return {
        "row": str(row.row),
        "name": row.name,
        "phone": row.phone,
        "area": row.area,
        "residence": row.residence,
        "start": start,
    }


async def ask_confirm(ctx: Context) -> None:
    """Open a case for every valid F1 row?"""
    rows = ctx.conversation.data["rows"]
    await ctx.say(
        "imports.confirm_contacts",
        buttons=yes_no(ctx),
        count=len(rows),
        days=ctx.services.policy.quarantine_days,
    )


async def take_confirm(ctx: Context) -> str | None:
    """Open the cases (the right checked for each row's commune) and send the results."""
    if ctx.choice == "no":
        await ctx.say("imports.cancelled")
        return END
    if ctx.choice != "yes":
        await ctx.choose_again()
        return None
    results = [await _contact(ctx, row) for row in ctx.conversation.data["rows"]]
    headers = [ctx.text(f"imports.col_{c}") for c in ("row", "name", "phone", "case", "how")]
    book = xlsx_bytes([(ctx.text("imports.sheet_results"), headers, results)])
    opened = sum(1 for result in results if result[3])
    await ctx.say("imports.contacts_done", opened=opened, count=len(results))
    await _send(ctx, book, "ket-qua", "imports.results")
    return END


async def _contact(ctx: Context, row: dict[str, str]) -> list[object]:
    """One F1 row: a case, and how the person learns of it."""
    services = ctx.services
    line: list[object] = [int(row["row"]), row["name"], display_phone(row["phone"])]
    if not may(await ctx.staff_member(), "case.enroll", row["area"]):
        return [*line, "", ctx.text("imports.outside_scope")]
    verified = await verified_person(services, row["phone"])
    person = verified or await enrolled_record(
        services, row["name"], row["phone"], row["area"], row["residence"]
    )
    today, days = services.today(), services.policy.quarantine_days
    contact = date.fromisoformat(row["start"]) if row["start"] else today
    end = max(today, contact + timedelta(days=days - 1))
    chat = ChatRef(platform=ctx.incoming.platform, chat_id=ctx.incoming.chat_id)
    case = await open_case(ctx, person, row["area"], (today, end), chat)
    if case is None:
        active = await services.cases.active_for_person(person.id)
        return [*line, active.number if active else "", ctx.text("imports.already_active")]
    if verified:
        await welcome_registered(services, case, person)
        return [*line, case.number, ctx.text("imports.told")]
    invite, link = await issue_invite(ctx, case)
    how = ctx.text("imports.invite", code=invite.code, link=link or "")
    return [*line, case.number, how]


async def _send(ctx: Context, data: bytes, name: str, caption: str) -> None:
    filename = f"{name}-{ctx.services.today():%Y%m%d}.xlsx"
    await ctx.out.send_document(ctx.incoming.chat_id, data, filename, ctx.text(caption))


IMPORT = Flow(
    name="import",
    staff=True,
    first="kind",
    steps={
        "kind": Step(ask_kind, take_kind),
        "org": Step(ask_org, take_org),
        "file": Step(ask_file, take_file),
        "confirm": Step(ask_confirm, take_confirm),
    },
)
