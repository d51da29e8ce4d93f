"""Registration: language, privacy consent, name, phone, commune, confirmation."""

from __future__ import annotations

import re

from core.areas import in_sentence
from core.channel import Button, Kind
from core.models import Account, Consent, Invite, Person
from core.phone import display_phone
from core.texts import DEFAULT_LANGUAGE, FORMS, LANGUAGES, edition
from handlers.binding import PROVE_PHONE, bind_invite
from handlers.context import Context
from handlers.flow import END, Flow, Step, commune_step
from handlers.menu import show_menu
from handlers.phones import ask_for_phone, phone_answer
from handlers.registry import REGISTRY, WithText
from handlers.subscriptions import alerts_only_button, follow_area
from handlers.worker_lists import invite_to_lists

_NAME = re.compile(r"[^\W\d_]+(?:[ '.-][^\W\d_]+)*")


async def ask_language(ctx: Context) -> None:
    """Greet and offer the languages."""
    await ctx.say("onboarding.welcome", district=in_sentence(ctx.services.areas.district))
    await ctx.say("language.ask", buttons=language_buttons(ctx))


def language_buttons(ctx: Context) -> list[list[Button]]:
    """One button per supported language."""
    return [[Button(ctx.text(f"language.{lang}"), f"lang:{lang}") for lang in LANGUAGES]]


async def take_language(ctx: Context) -> str | None:
    """Remember the chosen language."""
    if not ctx.choice.startswith("lang:"):
        await ctx.choose_again()
        return None
    ctx.conversation.data["lang"] = ctx.choice.removeprefix("lang:")
    return "consent"


async def ask_consent(ctx: Context) -> None:
    """Show the privacy notice and ask for consent."""
    buttons = [
        [Button(ctx.text("onboarding.agree"), "consent:yes")],
        [Button(ctx.text("onboarding.decline"), "consent:no")],
        alerts_only_button(ctx),
    ]
    await ctx.say(
        "onboarding.privacy", buttons=buttons, version=edition(ctx.services.privacy_version)
    )


async def take_consent(ctx: Context) -> str | None:
    """Go on after consent; on refusal end without storing anything."""
    if ctx.choice == "consent:yes":
        ctx.conversation.data["consent_at"] = ctx.services.clock.now().isoformat()
        return "invite_phone" if "invite" in ctx.conversation.data else "name"
    if ctx.choice == "consent:no":
        await ctx.say("onboarding.declined")
        ctx.conversation.data.clear()
        return END
    await ctx.choose_again()
    return None


async def ask_name(ctx: Context) -> None:
    """Ask for the full name."""
    await ctx.say("onboarding.name")


async def take_name(ctx: Context) -> str | None:
    """Accept a plausible full name (letters, 2–80 characters)."""
    name = " ".join(ctx.incoming.text.split())
    if ctx.incoming.kind is not Kind.TEXT or not 2 <= len(name) <= 80 or not _NAME.fullmatch(name):
        await ctx.say("onboarding.name_invalid")
        return None
    ctx.conversation.data["name"] = name
    # A proxy proved their phone when opening the invitation.
    return "area" if ctx.conversation.data.get("phone_proven") else "phone"


async def ask_phone(ctx: Context) -> None:
    """Ask for the phone number (a share-contact button on Telegram)."""
    await ask_for_phone(ctx, "onboarding.phone")


async def take_phone(ctx: Context) -> str | None:
    """Accept a shared contact or a typed Vietnamese number, normalised to +84."""
    phone = await phone_answer(ctx, offer_share=True)
    if phone is None:
        return None
    # Only a contact the sender shared of themselves proves the number is theirs.
    verified = ctx.incoming.kind is Kind.CONTACT
    ctx.conversation.data.update(phone=phone, verified=verified)
    return "area"


async def ask_confirm(ctx: Context) -> None:
    """Show the collected details for a last check."""
    data = ctx.conversation.data
    buttons = [
        [Button(ctx.text("onboarding.confirm_yes"), "confirm:yes")],
        [Button(ctx.text("onboarding.confirm_redo"), "confirm:redo")],
    ]
    form = str(data.get("form", ""))
    if ctx.lang == DEFAULT_LANGUAGE:  # the optional Ông/Bà: Vietnamese texts only
        buttons += [
            [Button(ctx.text(f"onboarding.form_{other}"), f"form:{other}")]
            for other in ("", *FORMS)
            if other != form
        ]
    await ctx.say(
        "onboarding.confirm",
        buttons=buttons,
        name=data["name"],
        phone=display_phone(str(data["phone"])),
        area=ctx.services.areas.name(str(data["area"])),
        form=ctx.text(f"onboarding.form_line_{form}"),
    )


async def take_confirm(ctx: Context) -> str | None:
    """Store the person and the account, or start the questions again."""
    if ctx.choice == "confirm:redo":
        return "name"
    if ctx.choice.startswith("form:") and ctx.choice.removeprefix("form:") in ("", *FORMS):
        ctx.conversation.data["form"] = ctx.choice.removeprefix("form:")
        return "confirm"
    if ctx.choice != "confirm:yes":
        await ctx.choose_again()
        return None
    invite = await _claimed_invite(ctx)
    if "invite" in ctx.conversation.data and invite is None:
        await ctx.say("invite.used")
        return END
    await register(ctx, invite)
    await ctx.say("onboarding.done", name=ctx.conversation.data["name"])
    await invite_to_lists(ctx)
    then = _continuation(ctx)
    if invite:
        await bind_invite(ctx, invite)
    elif then is not None:
        await then[0](ctx, then[1])
    else:
        await show_menu(ctx)
    return END


def _continuation(ctx: Context) -> tuple[WithText, str] | None:
    """What the user came to do before registering (e.g. a scan), now to be done."""
    name, _, rest = str(ctx.conversation.data.get("then", "")).partition(":")
    run = REGISTRY.after_signup.get(name)
    return (run, rest) if run else None


async def _claimed_invite(ctx: Context) -> Invite | None:
    """The invitation this registration started from, if this user holds it."""
    invite_id = ctx.conversation.data.get("invite")
    invite = await ctx.services.invites.find(invite_id=str(invite_id)) if invite_id else None
    return invite if invite and invite.used_by == ctx.actor else None


async def register(ctx: Context, invite: Invite | None) -> None:
    """Store the person with the consent given and bind this chat account to them.

    For an invited user the person is the one staff enrolled for the case, now completed
    with their consent and their own corrections.
    """
    data, now, services = ctx.conversation.data, ctx.services.clock.now(), ctx.services
    consent = Consent(version=services.privacy_version, at=str(data["consent_at"]))
    name, phone, area = str(data["name"]), str(data["phone"]), str(data["area"])
    # An invited resident completes the record staff typed; a proxy gets a record of their own.
    case = await services.cases.get(invite.case_id) if invite and not invite.proxy_phone else None
    if case:
        person_id = case.person_id
        await services.people.register(person_id, name, phone, area, consent)
    else:
        person_id = ctx.new_id("person")
        person = Person(
            id=person_id, name=name, phone=phone, area=area, consent=consent, created_at=now
        )
        await services.people.add(person)
    account = Account(
        platform=ctx.incoming.platform,
        user_id=ctx.incoming.user_id,
        chat_id=ctx.incoming.chat_id,
        person_id=person_id,
        language=ctx.lang,
        form=str(data.get("form", "")),
        phone_verified=bool(data.get("verified")),
        created_at=now,
    )
    await services.accounts.save(account)
    ctx.account = account
    await follow_area(ctx, area)


ONBOARDING = Flow(
    name="onboarding",
    first="language",
    steps={
        "language": Step(ask_language, take_language),
        "consent": Step(ask_consent, take_consent),
        "invite_phone": PROVE_PHONE,
        "name": Step(ask_name, take_name),
        "phone": Step(ask_phone, take_phone),
        "area": commune_step("onboarding.area", "confirm"),
        "confirm": Step(ask_confirm, take_confirm),
    },
)
