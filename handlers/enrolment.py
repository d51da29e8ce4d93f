"""Staff enrol a home-quarantine case and hand the resident a one-time invitation."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from core.channel import Button
from core.dates import format_date, parse_date
from core.models import Case, ChatRef, Home, Person
from core.phone import display_phone
from handlers.context import Context, Services
from handlers.flow import END, Flow, Step, begin
from handlers.invitations import hand_out, issue_invite
from handlers.location import enrolled_home, home_pin_step
from handlers.notices import to_accounts, welcome_text
from handlers.onboarding import take_name
from handlers.phones import phone_answer
from handlers.registry import REGISTRY
from handlers.rights import scope
from handlers.staff import authorize


@REGISTRY.command("enroll", staff=True)
async def start_enrolment(ctx: Context) -> None:
    """/enroll: staff with the right to enrol start the questions."""
    if await authorize(ctx, "case.enroll"):
        await begin(ctx, ENROLMENT)


async def ask_name(ctx: Context) -> None:
    """The person's full name."""
    await ctx.say("enroll.name")


async def take_phone_number(ctx: Context) -> str | None:
    """A Vietnamese phone number; refuse one that already has an active case."""
    phone = await phone_answer(ctx)
    if phone is None:
        return None
    if await _refused_as_active(ctx, phone):
        return None
    ctx.conversation.data["phone"] = phone
    return "address"


async def _refused_as_active(ctx: Context, phone: str) -> bool:
    """Say so and return True when someone with this phone already has an active case."""
    for person in await ctx.services.people.with_phone(phone):
        active = await ctx.services.cases.active_for_person(person.id)
        if active:
            await ctx.say("enroll.already_active", phone=display_phone(phone), number=active.number)
            return True
    return False


async def ask_phone(ctx: Context) -> None:
    """The person's phone number."""
    await ctx.say("enroll.phone")


async def ask_address(ctx: Context) -> None:
    """Where the person stays in quarantine."""
    await ctx.say("enroll.address")


async def take_address(ctx: Context) -> str | None:
    """A free-text address of reasonable length."""
    address = " ".join(ctx.incoming.text.split())
    if not 5 <= len(address) <= 200:
        await ctx.say("enroll.address_invalid")
        return None
    ctx.conversation.data["address"] = address
    return "area"


async def ask_area(ctx: Context) -> None:
    """The communes this staff member covers."""
    staff = await ctx.staff_member()
    covered = scope(staff) if staff else []
    areas = [a for a in ctx.services.areas.areas if covered is None or a.code in covered]
    buttons = [Button(area.name, f"area:{area.code}") for area in areas]
    await ctx.say("enroll.area", buttons=[buttons[i : i + 2] for i in range(0, len(buttons), 2)])


async def take_area(ctx: Context) -> str | None:
    """One of the offered communes."""
    if not ctx.choice.startswith("area:"):
        await ctx.choose_again()
        return None
    ctx.conversation.data["area"] = ctx.choice.removeprefix("area:")
    return "start"


async def ask_start(ctx: Context) -> None:
    """The first quarantine day (today by default)."""
    today = ctx.services.today()
    button = Button(ctx.text("enroll.today", date=format_date(today)), f"date:{today}")
    await ctx.say("enroll.start", buttons=[[button]])


async def take_start(ctx: Context) -> str | None:
    """A date chosen or typed."""
    start = await _date_answer(ctx)
    if start is None:
        return None
    ctx.conversation.data["start"] = start.isoformat()
    return "end"


async def ask_end(ctx: Context) -> None:
    """The last quarantine day (the configured number of days by default)."""
    days = ctx.services.policy.quarantine_days
    end = date.fromisoformat(str(ctx.conversation.data["start"])) + timedelta(days=days - 1)
    button = Button(ctx.text("enroll.default_end", date=format_date(end), days=days), f"date:{end}")
    await ctx.say("enroll.end", buttons=[[button]], days=days)


async def take_end(ctx: Context) -> str | None:
    """A last day on or after the first."""
    end = await _date_answer(ctx)
    start = date.fromisoformat(str(ctx.conversation.data["start"]))
    if end is None:
        return None
    if end < start:
        await ctx.say("enroll.end_before_start", start=format_date(start))
        return None
    ctx.conversation.data["end"] = end.isoformat()
    return "chat"


async def _date_answer(ctx: Context) -> date | None:
    if ctx.choice.startswith("date:"):
        return date.fromisoformat(ctx.choice.removeprefix("date:"))
    typed = parse_date(ctx.incoming.text, ctx.services.today())
    if typed is None:
        await ctx.say("enroll.date_invalid", text=ctx.incoming.text.strip()[:30])
    return typed


async def ask_chat(ctx: Context) -> None:
    """Where symptom pages for the case go: this chat, or a chat id typed."""
    await ctx.say("enroll.chat", buttons=[[Button(ctx.text("enroll.this_chat"), "chat:this")]])


async def take_chat(ctx: Context) -> str | None:
    """This chat, or another chat id on the same platform."""
    typed = ctx.incoming.text.strip()
    if ctx.choice == "chat:this":
        ctx.conversation.data["chat"] = ctx.incoming.chat_id
    elif typed and typed.lstrip("-").isalnum() and len(typed) <= 40:
        ctx.conversation.data["chat"] = typed
    else:
        await ctx.choose_again()
        return None
    return "confirm"


async def ask_confirm(ctx: Context) -> None:
    """Everything entered, for a last check."""
    data = ctx.conversation.data
    buttons = [
        [Button(ctx.text("enroll.create"), "enroll:yes")],
        [Button(ctx.text("location.add_home"), "enroll:home")],
        [Button(ctx.text("onboarding.confirm_redo"), "enroll:redo")],
    ]
    await ctx.say(
        "enroll.confirm",
        buttons=buttons,
        name=data["name"],
        phone=display_phone(str(data["phone"])),
        address=data["address"],
        area=ctx.services.areas.name(str(data["area"])),
        start=format_date(date.fromisoformat(str(data["start"]))),
        end=format_date(date.fromisoformat(str(data["end"]))),
        alerts=_alerts_go_to(ctx, str(data["chat"])),
    )


def _alerts_go_to(ctx: Context, chat_id: str) -> str:
    """Where the case's symptom pages will go, in words."""
    if chat_id == ctx.incoming.chat_id:
        return ctx.text("enroll.alerts_here")
    return ctx.text("enroll.alerts_chat", chat=chat_id)


async def take_confirm(ctx: Context) -> str | None:
    """Create the case (re-checking the right for its area) and hand out the invitation."""
    if ctx.choice == "enroll:redo":
        return "name"
    if ctx.choice == "enroll:home":
        return "home"
    if ctx.choice != "enroll:yes":
        await ctx.choose_again()
        return None
    data = ctx.conversation.data
    if await authorize(ctx, "case.enroll", str(data["area"])) is None:
        return END
    if await _refused_as_active(ctx, str(data["phone"])):  # enrolled meanwhile by someone else
        return END
    verified = await verified_person(ctx.services, str(data["phone"]))
    person = verified or await enrolled_record(
        ctx.services, str(data["name"]), str(data["phone"]), str(data["area"]), str(data["address"])
    )
    case = await _create_case(ctx, person)
    if case is None:
        return END
    if verified:
        await _welcome_registered(ctx, case, person)
    else:
        await _send_invite(ctx, case, person)
    return END


async def verified_person(services: Services, phone: str) -> Person | None:
    """A resident whose own chat account proved this phone: the case can go straight to them."""
    for person in await services.people.with_phone(phone):
        accounts = await services.accounts.of_person(person.id)
        if any(account.phone_verified for account in accounts):
            return person
    return None


async def enrolled_record(
    services: Services, name: str, phone: str, area: str, address: str
) -> Person:
    """The record staff type for a phone; its id comes from the phone, so officers enrolling
    the same number at once share one record (and the one-active-case index holds)."""
    person = Person(
        id=hashlib.sha256(f"enrolled|{phone}".encode()).hexdigest()[:32],
        name=name,
        phone=phone,
        area=area,
        address=address,
        created_at=services.clock.now(),
    )
    await services.people.enrolled(person)
    return person


async def _create_case(ctx: Context, person: Person) -> Case | None:
    """The new case from the answers, or None (the officer told) when the person got one
    meanwhile."""
    data = ctx.conversation.data
    await ctx.services.people.fill_address(person.id, str(data["address"]))
    chat = ChatRef(platform=ctx.incoming.platform, chat_id=str(data["chat"]))
    start, end = (date.fromisoformat(str(data[key])) for key in ("start", "end"))
    case = await open_case(ctx, person, str(data["area"]), (start, end), chat, enrolled_home(ctx))
    if case is None:
        active = await ctx.services.cases.active_for_person(person.id)
        number = active.number if active else "?"
        await ctx.say("enroll.already_active", phone=display_phone(person.phone), number=number)
    return case


async def open_case(
    ctx: Context,
    person: Person,
    area: str,
    days: tuple[date, date],
    staff_chat: ChatRef,
    home: Home | None = None,
    traced: bool = False,
) -> Case | None:
    """Store a new active case for `person` from the first to the last of `days`, audited;
    None when the person has an active case already. `traced`: an F1 found by a trace."""
    services = ctx.services
    case = Case(
        id=ctx.new_id(f"case|{person.id}"),
        number=await services.cases.next_number(),
        person_id=person.id,
        area=area,
        start=days[0],
        end=days[1],
        officer=ctx.actor,
        created_at=services.clock.now(),
        staff_chat=staff_chat,
        home=home,
        traced=traced,
    )
    stored = await services.cases.add(case)
    if stored is None:
        return None
    await services.audit.append(
        ctx.actor,
        "case.enroll",
        True,
        target=stored.id,
        details={"number": str(stored.number), "area": stored.area},
        person=stored.person_id,
    )
    return stored


async def _welcome_registered(ctx: Context, case: Case, person: Person) -> None:
    """The person already uses the bot: tell them directly, no invitation needed."""
    await welcome_registered(ctx.services, case, person)
    await ctx.say("invite.bound_existing", number=case.number, name=person.name)


async def welcome_registered(services: Services, case: Case, person: Person) -> None:
    """Tell a person who uses the bot of their new case, on each of their chat accounts."""
    accounts = await services.accounts.of_person(person.id)
    welcome = to_accounts(
        f"welcome:{case.id}", accounts, lambda lang: welcome_text(lang, services, case, person)
    )
    await services.outbox.enqueue(welcome)
    services.wake_dispatchers()


async def _send_invite(ctx: Context, case: Case, person: Person) -> None:
    """A single-use invitation: Telegram deep link, its QR code, and a code for Zalo."""
    invite, link = await issue_invite(ctx, case)
    expires = ctx.local_time(invite.expires_at)
    intro = ctx.text("invite.sent", number=case.number, name=person.name, expires=expires)
    await hand_out(ctx, intro, invite, link, case.number)


ENROLMENT = Flow(
    name="enrolment",
    staff=True,
    first="name",
    steps={
        "name": Step(ask_name, take_name),
        "phone": Step(ask_phone, take_phone_number),
        "address": Step(ask_address, take_address),
        "home": home_pin_step("confirm"),
        "area": Step(ask_area, take_area),
        "start": Step(ask_start, take_start),
        "end": Step(ask_end, take_end),
        "chat": Step(ask_chat, take_chat),
        "confirm": Step(ask_confirm, take_confirm),
    },
)
