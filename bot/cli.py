"""`python -m bot [run]` starts the service; `staff`, `org` and `checkpoint` set things up;
`trace` traces a person's contacts; `audit verify` checks the audit trail's chain;
`report` writes a day's report.

Each command works beside a running bot: it uses the bot's embedded database when one runs.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, time, timedelta
from pathlib import Path

import httpx
from pydantic import ValidationError

from bot.config import Settings, describe_error
from bot.logs import setup_logging
from core.areas import AreaCatalog, load_areas
from core.channel import Platform
from core.checkpoints import (
    checkpoint_link,
    checkpoint_token,
    landing_url,
    qr_target,
    start_payload,
)
from core.clock import SystemClock
from core.daily_report import chart_png, summary_text, workbook
from core.dates import format_date, parse_date
from core.exports import ExportFormat, ExportKind, Sources, Target, export, export_rows
from core.models import Checkpoint, CheckpointKind, Organisation, OrgKind, Role, Staff
from core.phone import normalize_phone
from core.posters import PosterItem, poster_pdf, poster_png
from core.texts import t
from core.tokens import new_code, new_id
from core.trace_report import TraceReport, names_for
from core.tracing import TraceRules, trace
from handlers.daily_report import DISTRICT, build_reports
from handlers.exports import record_export
from handlers.trace import record_trace
from sandbox.telegram_api import BOT_USERNAME as SANDBOX_BOT_USERNAME
from scheduler.retention import RetentionRun, apply
from scheduler.retention import pending as retention_pending
from storage.database import Storage, open_database

Command = Callable[[Storage, Settings, argparse.Namespace, str], Awaitable[str]]
TELEGRAM_API = "https://api.telegram.org"


def parser() -> argparse.ArgumentParser:
    """The command line."""
    root = argparse.ArgumentParser(prog="python -m bot", description="khaibao chatbot service")
    commands = root.add_subparsers(dest="command")
    commands.add_parser("run", help="run the bot (the default)")
    staff = commands.add_parser("staff", help="manage staff roles").add_subparsers(
        dest="action", required=True
    )
    add = staff.add_parser("add", help="give a chat account a staff role")
    add.add_argument("--platform", required=True, choices=[p.value for p in Platform])
    add.add_argument("--user-id", required=True)
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--area", action="append", default=[], help="commune code (repeatable)")
    add.add_argument("--org", action="append", default=[], help="an org_manager's organisation id")
    add.add_argument("--hamlet", default="", help="a team_member's hamlet (ấp) in their commune")
    add.add_argument("--name", default="", help="the staff member's name")
    staff.add_parser("list", help="list staff")
    remove = staff.add_parser("remove", help="take a staff role away")
    remove.add_argument("--platform", required=True, choices=[p.value for p in Platform])
    remove.add_argument("--user-id", required=True)
    _org_parser(commands)
    _checkpoint_parser(commands)
    _report_parser(commands)
    _audit_parser(commands)
    _export_parser(commands)
    retention = commands.add_parser("retention", help="delete data past its retention period")
    retention.add_argument("--dry-run", action="store_true", help="only count what would go")
    trace = commands.add_parser("trace", help="contacts of a person through the checkpoints")
    who = trace.add_mutually_exclusive_group(required=True)
    who.add_argument("--phone", help="the person's phone number")
    who.add_argument("--case", type=int, help="the person's case number")
    trace.add_argument("--days", type=int, default=14, choices=range(1, 31), metavar="1-30")
    trace.add_argument("--depth", type=int, default=1, choices=(1, 2))
    trace.add_argument("--out", required=True, type=Path, help="FILE.xlsx")
    trace.add_argument("--lang", default="vi", choices=["vi", "en"])
    return root


def _report_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser("report", help="the daily report of a commune or the district")
    report.add_argument("--date", help="dd/mm/yyyy (default: today)")
    report.add_argument("--area", help="a commune code (default: the whole district)")
    report.add_argument("--out", required=True, type=Path, help="FILE.xlsx")
    report.add_argument("--chart", type=Path, help="FILE.png")
    report.add_argument("--lang", default="vi", choices=["vi", "en"])


def _export_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    exporting = commands.add_parser("export", help="cases, contacts or follow-ups as a file")
    exporting.add_argument("--kind", required=True, choices=[k.value for k in ExportKind])
    exporting.add_argument("--format", default="xlsx", choices=[f.value for f in ExportFormat])
    exporting.add_argument("--out", required=True, type=Path, help="the file to write")
    exporting.add_argument("--area", help="the commune's code or name (default: the district)")
    exporting.add_argument(
        "--mapping", default=Target.OURS.value, choices=[t.value for t in Target]
    )


def _org_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    orgs = commands.add_parser("org", help="manage organisations").add_subparsers(
        dest="action", required=True
    )
    add = orgs.add_parser("add", help="add an organisation; prints its id on the last line")
    add.add_argument("--name", required=True)
    add.add_argument("--area", required=True, help="the commune's code or name")
    add.add_argument("--kind", default=OrgKind.COMPANY.value, choices=[k.value for k in OrgKind])
    listing = orgs.add_parser("list", help="list organisations")
    listing.add_argument("--area", help="the commune's code or name")


def _checkpoint_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    checkpoints = commands.add_parser("checkpoint", help="manage QR checkpoints")
    actions = checkpoints.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a checkpoint; prints its id on the last line")
    add.add_argument("--org", required=True, help="organisation id")
    add.add_argument("--kind", required=True, choices=[k.value for k in CheckpointKind])
    add.add_argument("--name", required=True)
    add.add_argument("--area", help="the commune's code or name (default: the organisation's)")
    listing = actions.add_parser("list", help="list checkpoints")
    listing.add_argument("--org", help="organisation id")
    for action, help_text in [
        ("revoke", "invalidate its printed posters (print new ones)"),
        ("retire", "take it out of use for good"),
    ]:
        actions.add_parser(action, help=help_text).add_argument("id", help="checkpoint id")
    poster = actions.add_parser("poster", help="write the A4 poster(s) as PDF or PNG")
    poster.add_argument("id", nargs="?", help="checkpoint id")
    poster.add_argument("--org", help="every live checkpoint of this organisation (PDF)")
    poster.add_argument("--out", required=True, type=Path, help="FILE.pdf or FILE.png")
    poster.add_argument("--lang", default="vi", choices=["vi", "en"])
    poster.add_argument("--shift", help="HH:MM-HH:MM: posters valid only in this shift or trip")
    poster.add_argument("--from", dest="first_day", help="the shift's first day (dd/mm/yyyy)")
    poster.add_argument("--days", type=int, default=1, help="one poster per day, for this many")


def _audit_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="check the audit trail")
    actions = audit.add_subparsers(dest="action", required=True)
    actions.add_parser("verify", help="prove the chain intact (exit 0) or name its first break")


async def run_command(settings: Settings, args: argparse.Namespace, command: Command) -> str:
    """Run one command against the configured (or running embedded) database."""
    uri = settings.mongodb_uri.get_secret_value() if settings.mongodb_uri else None
    async with open_database(uri, settings.mongodb_db, settings.data_dir, reuse_running=True) as db:
        storage = Storage.over(db, SystemClock(), settings.audit_hmac_key())
        await storage.ensure_indexes()
        return await command(storage, settings, args, f"cli:{getpass.getuser()}")


async def staff_command(
    storage: Storage, settings: Settings, args: argparse.Namespace, actor: str
) -> str:
    """One `staff` action."""
    if args.action == "add":
        return await _add(storage, settings, args, actor)
    if args.action == "remove":
        removed = await storage.staff.remove(Platform(args.platform), args.user_id)
        target = f"{args.platform}:{args.user_id}"
        await storage.audit.append(actor, "staff.remove", removed, target=target)
        return f"removed {target}" if removed else f"{target} is not staff"
    rows = [
        f"{s.platform.value}\t{s.user_id}\t{s.role.value}\t{','.join(s.areas) or '*'}"
        for s in await storage.staff.all()
    ]
    return "\n".join(["platform\tuser_id\trole\tareas", *rows])


async def _add(storage: Storage, settings: Settings, args: argparse.Namespace, actor: str) -> str:
    areas = load_areas(settings.areas_file)
    unknown = [code for code in args.area if areas.get(code) is None]
    if unknown:
        raise SystemExit(
            f"unknown area code(s): {', '.join(unknown)}; "
            f"known: {', '.join(a.code for a in areas.areas)}"
        )
    role = Role(args.role)
    if role is Role.ORG_MANAGER:
        await _check_orgs(storage, args.org)
    elif role is Role.TEAM_MEMBER and (len(args.area) != 1 or not args.hamlet.strip()):
        raise SystemExit("role team_member needs exactly one --area and a --hamlet")
    elif role not in (Role.DISTRICT_ADMIN, Role.LEADER) and not args.area:
        raise SystemExit(f"role {role.value} needs at least one --area")
    staff = Staff(
        platform=Platform(args.platform),
        user_id=args.user_id,
        role=role,
        areas=args.area,
        orgs=args.org,
        hamlet=args.hamlet.strip(),
        name=args.name.strip(),
        added_by=actor,
        added_at=SystemClock().now(),
    )
    await storage.staff.add(staff)
    target = f"{staff.platform.value}:{staff.user_id}"
    await storage.audit.append(
        actor,
        "staff.add",
        True,
        target=target,
        details={"role": role.value, "areas": ",".join(args.area), "orgs": ",".join(args.org)},
    )
    return f"{target} is now {role.value}"


async def _check_orgs(storage: Storage, org_ids: list[str]) -> None:
    """An org manager needs at least one live organisation."""
    if not org_ids:
        raise SystemExit("role org_manager needs at least one --org ID")
    for org_id in org_ids:
        await _live_org(storage, org_id)


def resolve_area(areas: AreaCatalog, typed: str) -> str:
    """A commune's code from its code or its name, ignoring case and diacritics ("tan ha")."""
    found = areas.find(typed)
    if found is None:
        known = ", ".join(f"{a.code} ({a.name})" for a in areas.areas)
        raise SystemExit(f"unknown or ambiguous area {typed!r}; known: {known}")
    return found.code


def _typed_name(text: str) -> str:
    """A name as typed in a terminal, with its accents composed (NFC) and no outer spaces."""
    name = unicodedata.normalize("NFC", text).strip()
    if not name:
        raise SystemExit("--name must not be empty")
    return name


async def org_command(
    storage: Storage, settings: Settings, args: argparse.Namespace, actor: str
) -> str:
    """One `org` action."""
    areas = load_areas(settings.areas_file)
    if args.action == "list":
        area = resolve_area(areas, args.area) if args.area else None
        rows = [
            f"{o.id}\t{o.kind.value}\t{o.area}\t{'retired' if o.retired else 'live'}\t{o.name}"
            for o in await storage.orgs.list(area)
        ]
        return "\n".join(["id\tkind\tarea\tstatus\tname", *rows])
    org = Organisation(
        id=new_id(),
        name=_typed_name(args.name),
        kind=OrgKind(args.kind),
        area=resolve_area(areas, args.area),
        created_by=actor,
        created_at=SystemClock().now(),
    )
    await storage.orgs.add(org)
    details = {"name": org.name, "kind": org.kind.value, "area": org.area}
    await storage.audit.append(actor, "org.add", True, target=org.id, details=details)
    return f"{org.name} ({org.kind.value}, {areas.name(org.area)})\n{org.id}"


async def checkpoint_command(
    storage: Storage, settings: Settings, args: argparse.Namespace, actor: str
) -> str:
    """One `checkpoint` action."""
    if args.action == "add":
        return await _add_checkpoint(storage, settings, args, actor)
    if args.action == "poster":
        return await _posters(storage, settings, args)
    if args.action in ("revoke", "retire"):
        return await _withdraw(storage, args.action, args.id, actor)
    listed = await (
        storage.checkpoints.of_org(args.org) if args.org else storage.checkpoints.list()
    )
    rows = [
        f"{c.id}\t{c.org_id}\t{c.kind.value}\t{c.code}\t{c.version}\t"
        f"{'retired' if c.retired else 'live'}\t{c.name}"
        for c in listed
    ]
    return "\n".join(["id\torg\tkind\tcode\tversion\tstatus\tname", *rows])


async def _withdraw(storage: Storage, action: str, checkpoint_id: str, actor: str) -> str:
    """Revoke a checkpoint's printed posters (new ones must be printed) or retire it."""
    repo = storage.checkpoints
    changed = await (
        repo.revoke(checkpoint_id) if action == "revoke" else repo.retire(checkpoint_id)
    )
    await storage.audit.append(actor, f"checkpoint.{action}", changed is not None, checkpoint_id)
    if changed is None:
        raise SystemExit(f"no live checkpoint {checkpoint_id!r}")
    if action == "revoke":
        return f"revoked the posters of {changed.name}: print new ones (version {changed.version})"
    return f"retired {changed.name}: its posters no longer work"


async def _live_org(storage: Storage, org_id: str) -> Organisation:
    org = await storage.orgs.get(org_id)
    if org is None or org.retired:
        raise SystemExit(f"no live organisation {org_id!r} (see `python -m bot org list`)")
    return org


async def _add_checkpoint(
    storage: Storage, settings: Settings, args: argparse.Namespace, actor: str
) -> str:
    org = await _live_org(storage, args.org)
    area = resolve_area(load_areas(settings.areas_file), args.area) if args.area else org.area
    draft = Checkpoint(
        id=new_id(),
        org_id=org.id,
        kind=CheckpointKind(args.kind),
        name=_typed_name(args.name),
        area=area,
        code=new_code(),
        created_by=actor,
        created_at=SystemClock().now(),
    )
    checkpoint = await storage.checkpoints.add(draft)
    details = {"org": org.id, "kind": checkpoint.kind.value, "name": checkpoint.name}
    await storage.audit.append(actor, "checkpoint.add", True, target=checkpoint.id, details=details)
    token = checkpoint_token(settings.keyring(), checkpoint)
    username = await _bot_username(settings)
    telegram = checkpoint_link(username, token) if username else f"/start {start_payload(token)}"
    lines = [
        f"{checkpoint.name} ({checkpoint.kind.value}) of {org.name}",
        f"Telegram: {telegram}",
        f"Zalo: send the code {checkpoint.code} to the bot",
        *([f"QR page: {landing_url(base, token)}"] if (base := settings.public_base_url) else []),
        checkpoint.id,
    ]
    return "\n".join(lines)


async def _bot_username(settings: Settings) -> str | None:
    """The Telegram bot's username (asked with getMe); None when Telegram cannot tell."""
    if settings.telegram_bot_token is None:
        return SANDBOX_BOT_USERNAME if settings.sandbox else None
    base = settings.telegram_api_base or TELEGRAM_API
    url = f"{base.rstrip('/')}/bot{settings.telegram_bot_token.get_secret_value()}/getMe"
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(url)
        return str(response.json()["result"]["username"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


async def _posters(storage: Storage, settings: Settings, args: argparse.Namespace) -> str:
    if bool(args.id) == bool(args.org):
        raise SystemExit("give a checkpoint id or --org ID")
    if args.org:
        checkpoints = [c for c in await storage.checkpoints.of_org(args.org) if not c.retired]
    else:
        checkpoint = await storage.checkpoints.get(args.id)
        checkpoints = [checkpoint] if checkpoint and not checkpoint.retired else []
    if not checkpoints:
        raise SystemExit("no live checkpoint to print")
    windows = _shift_windows(settings, args)
    items = [
        item
        for window in windows
        for item in await _poster_items(storage, settings, checkpoints, window, args.lang)
    ]
    suffix = args.out.suffix.lower()
    if suffix not in (".pdf", ".png") or (suffix == ".png" and len(items) > 1):
        raise SystemExit("--out must be FILE.pdf, or FILE.png for one poster")
    poster = poster_pdf(items, args.lang) if suffix == ".pdf" else poster_png(items[0], args.lang)
    args.out.write_bytes(poster)
    return f"wrote {len(items)} poster(s) to {args.out}"


def _shift_windows(
    settings: Settings, args: argparse.Namespace
) -> list[tuple[datetime, datetime] | None]:
    """One window per day with --shift (a night shift ends the next morning); else none."""
    if not args.shift:
        return [None]
    zone = settings.schedule.tz
    first = (
        parse_date(args.first_day, SystemClock().now().astimezone(zone).date())
        if args.first_day
        else None
    )
    hours = re.fullmatch(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})", args.shift)
    if hours is None or (args.first_day and first is None) or not 1 <= args.days <= 31:
        raise SystemExit("--shift HH:MM-HH:MM, --from dd/mm/yyyy, --days 1-31")
    start_at = time(int(hours[1]), int(hours[2]))
    end_at = time(int(hours[3]), int(hours[4]))
    day = first or SystemClock().now().astimezone(zone).date()
    windows: list[tuple[datetime, datetime] | None] = []
    for offset in range(args.days):
        start = datetime.combine(day + timedelta(days=offset), start_at, zone)
        end = datetime.combine(start.date(), end_at, zone)
        windows.append((start, end if end > start else end + timedelta(days=1)))
    return windows


async def _poster_items(
    storage: Storage,
    settings: Settings,
    checkpoints: list[Checkpoint],
    window: tuple[datetime, datetime] | None = None,
    lang: str = "vi",
) -> list[PosterItem]:
    areas, keys = load_areas(settings.areas_file), settings.keyring()
    username = await _bot_username(settings)
    if username is None and not settings.public_base_url:
        raise SystemExit("set PUBLIC_BASE_URL or a reachable TELEGRAM_BOT_TOKEN to print posters")
    items = []
    for checkpoint in checkpoints:
        org = await _live_org(storage, checkpoint.org_id)
        token = checkpoint_token(keys, checkpoint, window)
        target = qr_target(token, settings.public_base_url, username or "")
        label = _window_label(window, settings, lang) if window else ""
        items.append(PosterItem(org, checkpoint, areas.name(checkpoint.area), target, label))
    return items


async def trace_command(
    storage: Storage, settings: Settings, args: argparse.Namespace, actor: str
) -> str:
    """Trace one person: the summary printed, every row in the XLSX."""
    person_id = await _person_to_trace(storage, args)
    rules = TraceRules(longest=settings.visit_rules.longest)
    now = SystemClock().now()
    result = await trace(
        storage.visits, storage.checkpoints, person_id, args.days, now, rules, args.depth
    )
    await storage.audit.append(actor, "trace.run", True, target=person_id, person=person_id)
    await record_trace(storage.audit, actor, result)
    named = await names_for(result, storage.people, storage.checkpoints, storage.orgs)
    report = TraceReport(args.lang, settings.schedule.tz, load_areas(settings.areas_file))
    args.out.write_bytes(report.workbook(result, named))
    return f"{report.summary(result, named, args.days)}\nwrote {args.out}"


async def report_command(
    storage: Storage, settings: Settings, args: argparse.Namespace, actor: str
) -> str:
    """One day's report: the summary printed, the workbook (and the chart) written."""
    now = SystemClock().now()
    today = now.astimezone(settings.schedule.tz).date()
    day = parse_date(args.date, today) if args.date else today
    if day is None or day > today:
        raise SystemExit("--date dd/mm/yyyy: today or an earlier day")
    catalog = load_areas(settings.areas_file)
    if args.area and catalog.get(args.area) is None:
        raise SystemExit(f"no commune {args.area!r}")
    area = args.area or DISTRICT
    reports = await build_reports(
        storage.figures, storage.audit, catalog, settings.schedule, day, now, [area]
    )
    await storage.audit.append(actor, "figures.read", True, target=args.area or "")
    report = reports[area]
    args.out.write_bytes(workbook(report, args.lang))
    wrote = [str(args.out)]
    if args.chart:
        args.chart.write_bytes(chart_png(report, args.lang))
        wrote.append(str(args.chart))
    return f"{summary_text(report, args.lang)}\nwrote {', '.join(wrote)}"


async def _person_to_trace(storage: Storage, args: argparse.Namespace) -> str:
    if args.case is not None:
        case = await storage.cases.by_number(args.case)
        if case is None:
            raise SystemExit(f"no case {args.case}")
        return case.person_id
    phone = normalize_phone(args.phone)
    found = await storage.people.with_phone(phone) if phone else []
    registered = [p for p in found if await storage.accounts.of_person(p.id)]
    if not found:
        raise SystemExit(f"nobody with the phone {args.phone!r}")
    return (registered or found)[0].id


def _window_label(window: tuple[datetime, datetime], settings: Settings, lang: str) -> str:
    """ "ca 06:00–14:00 ngày 27/11/2026"."""
    start, end = (moment.astimezone(settings.schedule.tz) for moment in window)
    return t(
        lang,
        "poster.shift",
        start=f"{start:%H:%M}",
        end=f"{end:%H:%M}",
        day=format_date(start.date()),
    )


async def audit_command(
    storage: Storage, settings: Settings, args: argparse.Namespace, actor: str
) -> str:
    """`audit verify`: the chain's length and head, or exit 1 naming the first broken entry."""
    verdict = await storage.audit.verify()
    if not verdict.intact:
        raise SystemExit(verdict.describe())
    return verdict.describe()


async def export_command(
    storage: Storage, settings: Settings, args: argparse.Namespace, actor: str
) -> str:
    """`export`: one commune's or the district's records in the columns asked for."""
    areas = load_areas(settings.areas_file)
    communes = [resolve_area(areas, args.area)] if args.area else [a.code for a in areas.areas]
    sources = Sources(
        cases=storage.cases,
        declarations=storage.declarations,
        people=storage.people,
        visits=storage.visits,
        checkpoints=storage.checkpoints,
        orgs=storage.orgs,
        areas=areas,
        tz=settings.schedule.tz,
        rules=TraceRules(longest=settings.visit_rules.longest),
    )
    kind, form, target = ExportKind(args.kind), ExportFormat(args.format), Target(args.mapping)
    rows = await export_rows(sources, kind, communes, SystemClock().now())
    args.out.write_bytes(export(kind, form, target, rows))
    details = {"kind": kind.value, "format": form.value, "mapping": target.value}
    where = ",".join(communes) if args.area else ""
    await record_export(storage.audit, actor, where, details, rows)
    return f"wrote {len(rows)} rows to {args.out}"


async def retention_command(
    storage: Storage, settings: Settings, args: argparse.Namespace, actor: str
) -> str:
    """`retention [--dry-run]`: per data class, how many items went (or would go)."""
    clock = SystemClock()
    run = RetentionRun(storage.retention, settings.retention_rules, clock)
    if args.dry_run:
        counts, verb = await retention_pending(run), "would delete"
    else:
        counts, verb = await apply(run, settings.schedule.local_date(clock.now())), "deleted"
    return "\n".join(f"{data.value}: {verb} {count}" for data, count in counts.items())


COMMANDS: dict[str, Command] = {
    "staff": staff_command,
    "org": org_command,
    "checkpoint": checkpoint_command,
    "trace": trace_command,
    "report": report_command,
    "audit": audit_command,
    "retention": retention_command,
    "export": export_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, load settings, run the command."""
    args = parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(describe_error(error), file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    command = COMMANDS.get(args.command)
    if command:
        print(asyncio.run(run_command(settings, args, command)))
        return 0
    from bot.app import run  # set-up commands need not load aiogram

    asyncio.run(run(settings))
    return 0
