"""A resident's rights over their data: /mydata (all of it, as a JSON file and a workbook)
and withdrawing consent (/rutdongy), then agreeing again (/dongy).

Withdrawal is not erasure (that is /delete): the data stays, but nothing more is done with it
— no alerts, no messages, no scans, no reports — except what the law requires while a
quarantine case the person declares for is active (see `core.personal_data.withdrawn`).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from core.channel import Button
from core.dates import format_date
from core.models import Consent, Person
from core.personal_data import PersonalRecords, export_json, export_sheets, tables, withdrawn
from core.spreadsheets import xlsx_bytes
from core.texts import edition
from handlers.audit_views import viewings_of
from handlers.context import Context
from handlers.flow import END, Flow, Step, begin
from handlers.menu import show_menu
from handlers.registry import REGISTRY

EXPORT_EVERY = timedelta(minutes=10)
# Staff reads and changes of the person's data: all the audit keeps (retention ends them).
EVER = datetime.min.replace(tzinfo=UTC)
VIEWINGS_MAX = 1000
AGREE = "dongy"  # the command (and menu item) that gives consent again


async def _person(ctx: Context) -> Person | None:
    return await ctx.services.people.get(ctx.account.person_id) if ctx.account else None


def withdrawal_line(ctx: Context, person: Person) -> str:
    """For /me: when the person withdrew their consent ("" while it stands)."""
    consent = person.consent
    if consent is None or consent.withdrawn_at is None:
        return ""
    return ctx.text("me.withdrawn", at=ctx.local_time(consent.withdrawn_at))


async def held_back(ctx: Context) -> bool:
    """Whether the user withdrew consent, so that this cannot be done (they are told how to
    agree again). Declaring during an active case never asks this: the law requires it."""
    if not withdrawn(await _person(ctx)):
        return False
    await ctx.say("withdraw.refused", buttons=_agree_again(ctx))
    return True


def _agree_again(ctx: Context) -> list[list[Button]]:
    return [[Button(ctx.text("withdraw.agree_again"), f"menu:{AGREE}")]]


# ---- /mydata ---------------------------------------------------------------------------


@REGISTRY.command("mydata", "dulieucuatoi")
async def my_data(ctx: Context) -> None:
    """/mydata: everything stored about the user, as a JSON file and a readable workbook."""
    if ctx.account is None:
        await ctx.say("me.unregistered")
        return
    services, person_id = ctx.services, ctx.account.person_id
    limit = f"export:{person_id}"
    if await services.attempts.count(limit, EXPORT_EVERY):
        await ctx.say("mydata.too_soon")
        return
    records = await services.erasure.collect(
        person_id, await services.accounts.of_person(person_id)
    )
    if records is None:
        await ctx.say("me.unregistered")
        return
    await services.audit.append(ctx.actor, "person.export", True, target=person_id)
    await _send_export(ctx, records)
    # Counted once sent: an update run again after a crash sends the files rather than refuse.
    await services.attempts.hit(limit, EXPORT_EVERY)


async def _send_export(ctx: Context, records: PersonalRecords) -> None:
    """What the files hold in a few words, then the workbook and the JSON file."""
    services, tz = ctx.services, ctx.services.timezone
    named = tables(records, services.areas)
    viewings = await viewings_of(ctx, records.person.id, EVER, VIEWINGS_MAX)
    named["viewings"] = [asdict(viewing) for viewing in viewings]
    workbook = await asyncio.to_thread(xlsx_bytes, export_sheets(named, ctx.lang, tz))
    counts = {kind: len(named[kind]) for kind in ("cases", "declarations", "visits", "reports")}
    await ctx.send(ctx.text("mydata.intro", **counts))
    name = f"du-lieu-cua-toi-{services.today():%Y%m%d}"
    chat, out = ctx.incoming.chat_id, ctx.out
    await out.send_document(chat, workbook, f"{name}.xlsx", ctx.text("mydata.file_xlsx"))
    data = export_json(named, ctx.lang, tz, services.clock.now())
    await out.send_document(chat, data, f"{name}.json", ctx.text("mydata.file_json"))


# ---- withdrawing consent -----------------------------------------------------------------


@REGISTRY.command("rutdongy", "withdraw")
async def start_withdraw(ctx: Context) -> None:
    """/rutdongy: explain what withdrawing consent does, then ask to confirm."""
    person = await _person(ctx)
    if person is None or person.consent is None:
        await ctx.say("me.unregistered")
        return
    if person.consent.withdrawn_at is not None:
        at = ctx.local_time(person.consent.withdrawn_at)
        await ctx.say("withdraw.already", buttons=_agree_again(ctx), at=at)
        return
    await begin(ctx, WITHDRAW)


async def _declaring(ctx: Context) -> tuple[str, str]:
    """Whether the user declares for an active case, their own ("case") or as a helper
    ("helper"), and its last day; ("", "") when they do not."""
    own = await ctx.active_case()
    if own is not None:
        return "case", format_date(own.end)
    helped = await ctx.cases_to_declare()
    return ("helper", format_date(max(case.end for case in helped))) if helped else ("", "")


async def ask_withdraw(ctx: Context) -> None:
    """What withdrawal stops (and, during quarantine, what goes on), then the question."""
    kind, end = await _declaring(ctx)
    case = ctx.text(f"withdraw.confirm_{kind}", end=end) if kind else ""
    buttons = [
        [Button(ctx.text("withdraw.yes"), "withdraw:yes")],
        [Button(ctx.text("withdraw.no"), "withdraw:no")],
    ]
    await ctx.say("withdraw.confirm", buttons=buttons, case=case)


async def take_withdraw(ctx: Context) -> str | None:
    """Withdraw the consent (keeping when and which version it was), or keep it."""
    if ctx.choice == "withdraw:no":
        await ctx.say("withdraw.kept")
        await show_menu(ctx)
        return END
    person = await _person(ctx)
    if ctx.choice != "withdraw:yes" or person is None or person.consent is None:
        await ctx.choose_again()
        return None
    now = ctx.services.clock.now()
    withdrawn_consent = person.consent.model_copy(update={"withdrawn_at": now})
    await _record(ctx, person.id, withdrawn_consent, "person.consent_withdrawn")
    kind, end = await _declaring(ctx)
    if kind:
        await show_menu(ctx, ctx.text(f"withdraw.done_{kind}", at=ctx.local_time(now), end=end))
    else:
        await ctx.say("withdraw.done", at=ctx.local_time(now))
    return END


async def _record(ctx: Context, person_id: str, consent: Consent, action: str) -> None:
    """Store the consent as it now stands, hold back or resume alerts, and audit it."""
    services = ctx.services
    await services.people.set_consent(person_id, consent)
    await services.subscribers.set_withdrawn(person_id, not consent.given)
    details = {"version": consent.version}
    await services.audit.append(ctx.actor, action, True, target=person_id, details=details)


# ---- agreeing again ------------------------------------------------------------------------


@REGISTRY.command(AGREE, "agree")
async def start_agree(ctx: Context) -> None:
    """/dongy: the privacy notice again, for someone who withdrew their consent."""
    if ctx.account is None:
        await ctx.say("me.unregistered")
        return
    if not withdrawn(await _person(ctx)):
        await show_menu(ctx, ctx.text("withdraw.not_withdrawn"))
        return
    await begin(ctx, AGREE_AGAIN)


async def ask_agree(ctx: Context) -> None:
    """The same privacy notice and buttons as at registration."""
    buttons = [
        [Button(ctx.text("onboarding.agree"), "agree:yes")],
        [Button(ctx.text("onboarding.decline"), "agree:no")],
    ]
    version = edition(ctx.services.privacy_version)
    await ctx.say("onboarding.privacy", buttons=buttons, version=version)


async def take_agree(ctx: Context) -> str | None:
    """Record the consent given now (to the current notice), or leave it withdrawn."""
    if ctx.choice == "agree:no":
        await ctx.say("withdraw.still_withdrawn")
        return END
    person = await _person(ctx)
    if ctx.choice != "agree:yes" or person is None:
        await ctx.choose_again()
        return None
    consent = Consent(version=ctx.services.privacy_version, at=ctx.services.clock.now())
    await _record(ctx, person.id, consent, "person.consent_given")
    await show_menu(ctx, ctx.text("withdraw.welcome_back"))
    return END


WITHDRAW = Flow(
    name="withdraw", first="confirm", steps={"confirm": Step(ask_withdraw, take_withdraw)}
)
AGREE_AGAIN = Flow(
    name="agree_again", first="notice", steps={"notice": Step(ask_agree, take_agree)}
)
