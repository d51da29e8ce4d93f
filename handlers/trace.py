"""Narrow contact tracing from a staff chat: `/trace <case number | phone> [days] [f2]`.

The summary and an XLSX come at once; then the F1s can be picked and put under home
quarantine in one step (each gets a case and is told at once: their identity comes from
their own scans, not from a typed phone number).
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from core.channel import Button
from core.dates import format_date
from core.models import ChatRef, Person
from core.phone import display_phone, leading_phone, normalize_phone
from core.ports import AuditLog
from core.trace_report import TraceReport, names_for
from core.tracing import Trace, TraceRules, trace
from handlers.context import Context
from handlers.enrolment import open_case, welcome_registered
from handlers.flow import END, Flow, Step, begin, yes_no
from handlers.registry import REGISTRY
from handlers.rights import may
from handlers.staff import authorize

DEFAULT_DAYS = 14
MAX_DAYS = 30
PICKABLE = 20  # F1s offered as buttons; the workbook lists them all


@REGISTRY.command("trace", "truyvet", staff=True)
async def trace_command(ctx: Context) -> None:
    """/trace: the index person's visits, their F1 (and F2), a file, then enrolment."""
    request = _parse(ctx.incoming.payload)
    if request is None:
        await ctx.say("trace.usage")
        return
    if await authorize(ctx, "trace.run") is None:
        return
    typed, days, depth = request
    person = await _index_person(ctx, typed)
    if person is None:
        return
    await ctx.say("trace.working")
    rules = TraceRules(longest=ctx.services.policy.visits.longest)
    services, now = ctx.services, ctx.services.clock.now()
    result = await trace(services.visits, services.checkpoints, person.id, days, now, rules, depth)
    await record_trace(services.audit, ctx.actor, result)
    await _report(ctx, result, days)
    if result.f1:
        await begin(ctx, TRACE, data={"f1": _pickable(ctx, result), "picked": []})


async def record_trace(audit: AuditLog, actor: str, result: Trace) -> None:
    """A finished trace in the audit trail: for the traced person, and for every contact
    whose visits it read."""
    await audit.append(
        actor,
        "trace.done",
        True,
        target=result.person_id,
        details={"f1": str(len(result.f1))},
        person=result.person_id,
    )
    for contact in (*result.f1, *result.f2):
        await audit.append(
            actor, "trace.contact", True, target=result.person_id, person=contact.person_id
        )


def _parse(arguments: str) -> tuple[str, int, int] | None:
    """(case number or phone, days, depth) from "12 7 f2" or "0912 345 678 --depth 2" (a
    phone may be typed in groups, as we print it); None when unreadable."""
    words = arguments.casefold().replace("--depth 2", "f2").replace("--depth 1", "").split()
    depth = 2 if "f2" in words else 1
    words = [word for word in words if word != "f2"]
    phone, rest = leading_phone(words)
    target = phone or (words[0] if words else "")
    rest = rest if phone else words[1:]
    if not target or len(rest) > 1 or (rest and not rest[0].isdigit()):
        return None
    days = int(rest[0]) if rest else DEFAULT_DAYS
    return (target, days, depth) if 1 <= days <= MAX_DAYS else None


async def _index_person(ctx: Context, typed: str) -> Person | None:
    """The person a case number or phone names, within the user's areas (audited); None
    (told the same either way) when there is none or it lies outside them."""
    services = ctx.services
    candidates: list[tuple[Person, str]] = []
    if typed.isdigit() and len(typed) <= 6:
        case = await services.cases.by_number(int(typed))
        person = await services.people.get(case.person_id) if case else None
        if case and person:
            candidates.append((person, case.area))
    elif phone := normalize_phone(typed):
        found = await services.people.with_phone(phone)
        with_accounts = [p for p in found if await services.accounts.of_person(p.id)]
        candidates = [(p, p.area) for p in with_accounts or found]
    staff = await ctx.staff_member()
    allowed = [(p, area) for p, area in candidates if may(staff, "trace.run", area)]
    subject = allowed[0][0].id if allowed else ""
    await services.audit.append(
        ctx.actor, "trace.run", bool(allowed), target=subject, person=subject
    )
    if not allowed:
        shown = display_phone(phone) if (phone := normalize_phone(typed)) else typed
        await ctx.say("trace.not_found", typed=shown)
        return None
    return allowed[0][0]


async def _report(ctx: Context, result: Trace, days: int) -> None:
    services = ctx.services
    named = await names_for(result, services.people, services.checkpoints, services.orgs)
    report = TraceReport(ctx.lang, services.timezone, services.areas)
    await ctx.send(report.summary(result, named, days))
    workbook = await asyncio.to_thread(report.workbook, result, named)
    await ctx.out.send_document(
        ctx.incoming.chat_id, workbook, f"truy-vet-{services.today():%Y%m%d}.xlsx"
    )


def _pickable(ctx: Context, result: Trace) -> list[dict[str, str]]:
    """The closest F1s, with the day of their last contact (their quarantine counts from it)."""
    tz = ctx.services.timezone
    return [
        {
            "person": c.person_id,
            "last": max(s.end for s in c.shared).astimezone(tz).date().isoformat(),
        }
        for c in result.f1[:PICKABLE]
    ]


async def ask_pick(ctx: Context) -> None:
    """The F1s as toggles, «all», and the enrolment of those picked."""
    data = ctx.conversation.data
    people = await ctx.services.people.many(f1["person"] for f1 in data["f1"])
    picked = set(data["picked"])
    buttons = [
        [Button(f"{'✅' if i in picked else '▫️'} {i + 1}. {_name(people, f1)}", f"pick:{i}")]
        for i, f1 in enumerate(data["f1"])
    ]
    buttons += [
        [Button(ctx.text("trace.pick_all"), "all")],
        [Button(ctx.text("trace.enrol", count=len(picked)), "enrol")],
        [Button(ctx.text("trace.done"), "done")],
    ]
    await ctx.say("trace.pick", buttons=buttons)


def _name(people: dict[str, Person], f1: dict[str, str]) -> str:
    person = people.get(f1["person"])
    return person.name if person else "?"


async def take_pick(ctx: Context) -> str | None:
    """Toggle one, pick all, type numbers ("1 3 5"), or go on to enrol those picked."""
    data, choice = ctx.conversation.data, ctx.choice
    picked: set[int] = set(data["picked"])
    count = len(data["f1"])
    if choice.startswith("pick:"):
        picked ^= {int(choice.removeprefix("pick:"))}
    elif choice == "all":
        picked = set(range(count))
    elif choice == "done":
        await ctx.say("trace.closed")
        return END
    elif choice == "enrol":
        if not picked:
            await ctx.say("trace.none_picked")
            return "pick"
        return "confirm"
    elif (typed := _typed_numbers(ctx.incoming.text, count)) is not None:
        picked = typed
    else:
        await ctx.choose_again()
        return None
    data["picked"] = sorted(picked)
    return "pick"


def _typed_numbers(text: str, count: int) -> set[int] | None:
    """ "1, 3 5" → {0, 2, 4}; None unless every word is a listed number."""
    words = text.replace(",", " ").split()
    if not words or not all(word.isdigit() and 1 <= int(word) <= count for word in words):
        return None
    return {int(word) - 1 for word in words}


async def ask_confirm(ctx: Context) -> None:
    """Home quarantine for the picked F1s, counted from each one's last contact."""
    days = ctx.services.policy.quarantine_days
    await ctx.say(
        "trace.confirm", buttons=yes_no(ctx), count=len(ctx.conversation.data["picked"]), days=days
    )


async def take_confirm(ctx: Context) -> str | None:
    """Enrol on «Có» (the right is checked again for each person's area); «Không» goes back."""
    if ctx.choice == "no":
        return "pick"
    if ctx.choice != "yes":
        await ctx.choose_again()
        return None
    data, services = ctx.conversation.data, ctx.services
    chosen = [data["f1"][i] for i in data["picked"]]
    people = await services.people.many(f1["person"] for f1 in chosen)
    enrolled, skipped = [], []
    for f1 in chosen:
        person = people.get(f1["person"])
        if person is None or not await authorize(
            ctx, "case.enroll", person.area, person.id, person.id
        ):
            continue
        case = await open_case(
            ctx,
            person,
            person.area,
            _quarantine(ctx, date.fromisoformat(f1["last"])),
            ChatRef(platform=ctx.incoming.platform, chat_id=ctx.incoming.chat_id),
            traced=True,
        )
        if case is None:
            skipped.append(person.name)
            continue
        await welcome_registered(services, case, person)
        enrolled.append(
            ctx.text(
                "trace.enrolled_line",
                number=case.number,
                name=person.name,
                end=format_date(case.end),
            )
        )
    await ctx.say("trace.enrolled", count=len(enrolled), lines="\n".join(enrolled))
    if skipped:
        await ctx.say("trace.already_active", names=", ".join(skipped))
    return END


def _quarantine(ctx: Context, last_contact: date) -> tuple[date, date]:
    """From today to the end of the quarantine days counted from the last contact."""
    today, days = ctx.services.today(), ctx.services.policy.quarantine_days
    return today, max(today, last_contact + timedelta(days=days - 1))


TRACE = Flow(
    name="trace",
    staff=True,
    first="pick",
    steps={"pick": Step(ask_pick, take_pick), "confirm": Step(ask_confirm, take_confirm)},
)
