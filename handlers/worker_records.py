"""Staff look at and complete a worker's record: place of stay, tests, vaccine doses.

`/congnhan <phone>` shows it; `/congnhan <phone> noio <place>`, `... xn <nhanh|pcr> <date>
<am|duong|cho>` and `... tiem <dose> <date> <vaccine>` change it. Health staff reach the people
of their communes, an org manager those linked to their organisations' lists.
"""

from __future__ import annotations

from core.dates import format_date, parse_date
from core.models import LabTest, Person, Role, Vaccination
from core.phone import display_phone, leading_phone
from handlers.audit_views import stated_purpose
from handlers.case_views import TEST_KINDS, TEST_RESULTS, lab_test_text
from handlers.context import Context
from handlers.registry import REGISTRY
from handlers.rights import may
from handlers.staff import authorize

MAX_DOSE = 10


@REGISTRY.command("worker", "congnhan", staff=True)
async def worker_command(ctx: Context) -> None:
    """/congnhan: a worker's record, or one change to it."""
    phone, words = leading_phone(ctx.incoming.payload.split())
    if phone is None:
        await ctx.say("records.usage")
        return
    if await authorize(ctx, "place.manage") is None:
        return
    if await stated_purpose(ctx, "worker.view") is None:  # asked first; runs again after
        return
    person = await _reachable(ctx, phone)
    if person is None:
        await ctx.say("cards.not_found")
        return
    if not words:
        await _show(ctx, person)
    elif not await _change(ctx, person, words[0].casefold(), words[1:]):
        await ctx.say("records.usage")


async def _reachable(ctx: Context, phone: str) -> Person | None:
    """The person with this phone whom the user may see (audited either way)."""
    services, staff = ctx.services, await ctx.staff_member()
    assert staff is not None
    people = await services.people.with_phone(phone)
    if staff.role is Role.ORG_MANAGER:
        linked = {
            w.person_id for w in await services.workers.with_phone(phone) if w.org_id in staff.orgs
        }
        found = [person for person in people if person.id in linked]
    else:
        found = [person for person in people if may(staff, "place.manage", person.area)]
    subject = found[0].id if found else ""
    await services.audit.append(
        ctx.actor, "worker.view", bool(found), target=subject, person=subject
    )
    return found[0] if found else None


async def _show(ctx: Context, person: Person) -> None:
    none = ctx.text("records.none")
    tests = "\n".join(f"• {lab_test_text(ctx, x)}" for x in person.tests) or none
    doses = (
        "\n".join(
            ctx.text("records.dose", dose=d.dose, on=format_date(d.on), vaccine=d.vaccine)
            for d in person.vaccinations
        )
        or none
    )
    await ctx.say(
        "records.show",
        name=person.name,
        phone=display_phone(person.phone),
        area=ctx.services.areas.name(person.area),
        residence=person.residence or none,
        tests=tests,
        doses=doses,
    )


async def _change(ctx: Context, person: Person, what: str, rest: list[str]) -> bool:
    """Apply one change; False when it cannot be read (the usage is shown)."""
    services, now, today = ctx.services, ctx.services.clock.now(), ctx.services.today()
    residence, tests, doses = "", [], []
    if what == "noio" and rest:
        residence = " ".join(rest)[:200]
    elif what == "xn" and len(rest) == 3 and rest[0].lower() in TEST_KINDS:
        on = parse_date(rest[1], today)
        if on is None or on > today or rest[2].lower() not in TEST_RESULTS:
            return False
        tests = [LabTest(kind=rest[0].lower(), on=on, result=rest[2].lower(), by=ctx.actor, at=now)]
    elif what == "tiem" and len(rest) >= 3 and rest[0].isdigit():
        on = parse_date(rest[1], today)
        if on is None or on > today or not 1 <= int(rest[0]) <= MAX_DOSE:
            return False
        doses = [
            Vaccination(
                dose=int(rest[0]), on=on, vaccine=" ".join(rest[2:])[:60], by=ctx.actor, at=now
            )
        ]
    else:
        return False
    await services.people.add_records(person.id, residence, tests, doses)
    await services.audit.append(
        ctx.actor, "worker.update", True, target=person.id, person=person.id
    )
    updated = await services.people.get(person.id)
    await ctx.say("records.saved")
    if updated is not None:
        await _show(ctx, updated)
    return True
