"""A user's own data and settings: /me, /help, /language, /delete (/mydata and consent
withdrawal are in handlers/data_rights.py)."""

from __future__ import annotations

from functools import partial

from core.channel import Button
from core.dates import format_date
from core.phone import display_phone
from core.texts import edition, t, window_name
from handlers.context import Context, Services
from handlers.data_rights import withdrawal_line
from handlers.flow import END, Flow, Step, ask_again, begin, enter
from handlers.menu import show_menu
from handlers.notices import to_accounts
from handlers.onboarding import language_buttons
from handlers.registry import REGISTRY
from handlers.staff import describe_role


async def show_help(ctx: Context) -> None:
    """The command list: staff commands for staff, resident ones (or how to register)."""
    staff = await ctx.staff_member()
    if staff:
        await describe_role(ctx, staff)
    if ctx.account or not staff:
        await _resident_help(ctx) if ctx.account else await ctx.say("help.unregistered")


async def _resident_help(ctx: Context) -> None:
    """Declaration commands only for people in quarantine: nobody is sent to what they lack."""
    declare = ctx.text("help.declare") if await ctx.cases_to_declare() else ""
    await ctx.say("help.resident", declare=declare)


@REGISTRY.command("me", "toi")
async def me(ctx: Context) -> None:
    """/me: what we hold about the user, then back to what they were doing."""
    await show_me(ctx)
    await ask_again(ctx)


async def show_me(ctx: Context) -> None:
    """Everything we hold about the user, and how to delete it."""
    person = await ctx.services.people.get(ctx.account.person_id) if ctx.account else None
    # Registered people always consented; the check narrows the type for what follows.
    account = ctx.text(
        "me.account", platform=ctx.incoming.platform.value.capitalize(), id=ctx.incoming.user_id
    )
    if ctx.account is None or person is None or person.consent is None:
        await ctx.send(f"{ctx.text('me.unregistered')}\n\n{account}")
        return
    await ctx.say(
        "me.show",
        account=account,
        name=person.name,
        phone=display_phone(person.phone),
        area=ctx.services.areas.name(person.area),
        language=ctx.text(f"language.{ctx.lang}"),
        version=edition(person.consent.version),
        consent_at=ctx.local_time(person.consent.at),
        withdrawn=withdrawal_line(ctx, person),
        case=await _quarantine_summary(ctx),
    )


async def _quarantine_summary(ctx: Context) -> str:
    """For a quarantined resident: the case number, its end and today's declarations."""
    case = await ctx.active_case()
    if case is None:
        return ""
    now, schedule = ctx.services.clock.now(), ctx.services.policy.schedule
    today = schedule.local_date(now)
    declared = {
        d.slot: d for d in await ctx.services.declarations.on_dates([case.id], [today]) if d.slot
    }
    lines = []
    for window in schedule.windows_on(today):
        if window.deadline <= case.created_at:
            continue  # closed before the case was enrolled: never due
        name, declaration = window_name(ctx.lang, window.slot), declared.get(window.slot)
        if declaration:
            at = declaration.submitted_at.astimezone(ctx.services.timezone).strftime("%H:%M")
            lines.append(ctx.text(f"me.window_{declaration.timing}", window=name, at=at))
        elif window.deadline <= now:
            lines.append(ctx.text("me.window_missed", window=name))
        else:
            state = "open" if window.opens_at <= now else "later"
            lines.append(ctx.text(f"me.window_{state}", window=name))
    return ctx.text(
        "me.case", number=case.number, end=format_date(case.end), today="\n".join(lines)
    )


@REGISTRY.command("language", "ngonngu")
async def change_language(ctx: Context) -> None:
    """Offer the languages, then come back to whatever the user was doing."""
    conversation = ctx.conversation
    conversation.data["return_to"] = [conversation.flow, conversation.step]
    await enter(ctx, LANGUAGE, "choose")


async def ask_language(ctx: Context) -> None:
    """Offer the languages."""
    await ctx.say("language.ask", buttons=language_buttons(ctx))


async def take_language(ctx: Context) -> str | None:
    """Switch language and return to the interrupted flow, if any."""
    if not ctx.choice.startswith("lang:"):
        await ctx.choose_again()
        return None
    lang = ctx.choice.removeprefix("lang:")
    if ctx.account:
        ctx.account.language = lang
        await ctx.services.accounts.set_language(ctx.account.platform, ctx.account.user_id, lang)
    else:
        ctx.conversation.data["lang"] = lang
        await ctx.services.staff.set_language(ctx.incoming.platform, ctx.incoming.user_id, lang)
    await ctx.services.subscribers.set_language(ctx.incoming.platform, ctx.incoming.user_id, lang)
    await ctx.say("language.changed")
    flow, step = ctx.conversation.data.pop("return_to", ["", ""])
    if flow:
        ctx.conversation.flow, ctx.conversation.step = flow, step
        await ask_again(ctx)
        return None
    if ctx.account:
        await show_menu(ctx)
    return END


@REGISTRY.command("delete", "xoa")
async def start_delete(ctx: Context) -> None:
    """Ask for confirmation before erasing the user's data."""
    if ctx.account is None:
        await ctx.say("me.unregistered")
        return
    await begin(ctx, DELETE)


async def ask_delete(ctx: Context) -> None:
    """The confirmation question."""
    buttons = [
        [Button(ctx.text("delete.yes"), "delete:yes")],
        [Button(ctx.text("delete.no"), "delete:no")],
    ]
    await ctx.say("delete.confirm", buttons=buttons)


async def take_delete(ctx: Context) -> str | None:
    """Erase everything about the user, or keep it; during quarantine, erase when it ends."""
    if ctx.choice == "delete:no":
        await ctx.say("delete.kept")
        await show_menu(ctx)
        return END
    if ctx.choice != "delete:yes" or ctx.account is None:
        await ctx.choose_again()
        return None
    services, person_id = ctx.services, ctx.account.person_id
    active = await services.cases.active_for_person(person_id)
    if active is not None:
        # The quarantine order is the legal basis for keeping health data until it ends.
        await services.erasure.request(person_id, services.clock.now())
        await services.audit.append(
            ctx.actor, "person.erasure_requested", True, target=person_id, person=person_id
        )
        await ctx.say("delete.after_case", end=format_date(active.end))
        await show_menu(ctx)
        return END
    erased = await erase(services, person_id, ctx.actor)
    await ctx.send(erased_text(ctx.lang, "delete.done", erased))
    ctx.account = None
    return END


def erased_text(lang: str, key: str, erased: dict[str, int]) -> str:
    """What was erased, in words."""
    return t(
        lang,
        key,
        accounts=erased["accounts"],
        cases=erased["cases"],
        declarations=erased["declarations"],
        selfies=erased["selfies"],
    )


async def erase(services: Services, person_id: str, actor: str) -> dict[str, int]:
    """Erase a person everywhere and record that it was done (counts only)."""
    accounts = await services.accounts.of_person(person_id)
    erased = await services.erasure.erase(person_id, accounts, services.clock.now())
    details = {kind: str(count) for kind, count in erased.items()}
    await services.audit.append(
        actor, "person.erase", True, target=person_id, details=details, person=person_id
    )
    return erased


async def erase_requested(services: Services) -> int:
    """Erase the people who asked while in quarantine, once their case has ended."""
    done = 0
    for person_id in await services.erasure.requested():
        if await services.cases.active_for_person(person_id) is not None:
            continue
        accounts = await services.accounts.of_person(person_id)
        erased = await erase(services, person_id, "system:erasure")
        text = partial(erased_text, key="delete.done_later", erased=erased)
        goodbye = to_accounts(f"erased:{person_id}", accounts, text)
        await services.outbox.enqueue(goodbye)
        done += 1
    if done:
        services.wake_dispatchers()
    return done


LANGUAGE = Flow(
    name="language", first="choose", steps={"choose": Step(ask_language, take_language)}
)
DELETE = Flow(name="delete", first="confirm", steps={"confirm": Step(ask_delete, take_delete)})
