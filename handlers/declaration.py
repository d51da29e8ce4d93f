"""Health declarations: questions, a selfie, a receipt, and a page to staff on symptoms."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

from core.channel import Action, Button, Kind
from core.imaging import NormalisedPhoto
from core.models import Answers, Case, Declaration, OutgoingMessage, Person
from core.schedule import Placement, Timing
from core.selfies import RETAKE_FLAGS, retake_reason
from core.texts import window_name
from core.tokens import CODE_ALPHABET
from handlers import location
from handlers.context import Context
from handlers.flow import END, Flow, Step, begin, resume, yes_no, yes_no_step
from handlers.menu import show_menu
from handlers.notices import symptom_page
from handlers.photos import downloaded_photo
from handlers.registry import REGISTRY

# A selfie without a clear face is asked again twice, then kept and flagged.
MAX_RETAKES = 2


@dataclass(frozen=True)
class Selfie:
    """An accepted selfie: its id, hash and arrival flags; `jpeg` until it is stored."""

    id: str
    dhash: str
    flags: list[str]
    jpeg: bytes | None = None


@REGISTRY.command("khaibao", "declare")
@REGISTRY.action("act:declare")
async def start_declaration(ctx: Context) -> None:
    """/khaibao: declare for the open window (or late for a missed one, or extra)."""
    await _start(ctx, unwell=False)


@REGISTRY.command("unwell", "khongkhoe")
async def start_unwell(ctx: Context) -> None:
    """ "I feel unwell": the symptom questions straight away, then an immediate page."""
    await _start(ctx, unwell=True)


async def _start(ctx: Context, unwell: bool) -> None:
    cases = await ctx.cases_to_declare()
    if not cases:
        await ctx.say("quarantine.not_in_quarantine")
    elif len(cases) == 1:
        await _start_for(ctx, cases[0], unwell)
    else:  # a proxy: for themselves or for whom?
        await begin(ctx, DECLARATION, data={"unwell": unwell}, step="whom")


async def _start_for(ctx: Context, case: Case, unwell: bool) -> bool:
    """Begin the questions for a case; False (user told) when its window is filled already."""
    placement = await _placement(ctx, case)
    if placement.timing is Timing.ON_TIME and placement.window is None and not unwell:
        await _already_declared(ctx, case, placement)
        return False
    first = "fever" if unwell else DECLARATION.first
    await begin(ctx, DECLARATION, data={"case": case.id, "unwell": unwell}, step=first)
    return True


async def ask_whom(ctx: Context) -> None:
    """Whose declaration this is, for someone who declares for household members."""
    cases = await ctx.cases_to_declare()
    people = await ctx.services.people.many(c.person_id for c in cases)
    buttons = [[Button(_whose(ctx, case, people), f"whom:{case.id}")] for case in cases]
    await ctx.say("proxy.whom", buttons=buttons)


def _whose(ctx: Context, case: Case, people: dict[str, Person]) -> str:
    if ctx.account and case.person_id == ctx.account.person_id:
        return ctx.text("proxy.myself")
    person = people.get(case.person_id)
    name = person.name if person else ctx.text("case.person_erased")
    return ctx.text("proxy.for_person", name=name, number=case.number)


async def take_whom(ctx: Context) -> str | None:
    """Go on with the declaration of the chosen case."""
    chosen = ctx.choice.removeprefix("whom:")
    case = next((c for c in await ctx.cases_to_declare() if c.id == chosen), None)
    if not ctx.choice.startswith("whom:") or case is None:
        await ctx.choose_again()
        return None
    began = await _start_for(ctx, case, bool(ctx.conversation.data.get("unwell")))
    return None if began else END  # the questions are asked already


async def _placement(ctx: Context, case: Case) -> Placement:
    """Where a declaration made now belongs, given what the case already declared."""
    schedule, now = ctx.services.policy.schedule, ctx.services.clock.now()
    days = {window.local_date for window in schedule.around(now)}
    earlier = await ctx.services.declarations.on_dates([case.id], days)
    declared = {(d.local_date, d.slot) for d in earlier if d.slot}
    return schedule.place(now, declared, since=case.created_at)


def _counted(placement: Placement, data: dict[str, Any]) -> Placement:
    """An unwell report or an extra declaration fills an open window still unfilled;
    otherwise it is ad hoc (never late, never refused as a duplicate)."""
    if not (data.get("unwell") or data.get("extra")):
        return placement
    if placement.timing is Timing.ON_TIME and placement.window is not None:
        return placement
    return Placement(Timing.ADHOC, None)


async def unprompted(ctx: Context) -> None:
    """A photo or words from a registered user outside any flow.

    In quarantine, a photo (what people send right after a reminder) starts the declaration
    with it as the selfie, and words (often a symptom: "hôm nay tôi bị ho") point to the
    unwell report. Everyone else gets the menu.
    """
    cases = await ctx.cases_to_declare()
    case = cases[0] if len(cases) == 1 else None  # a proxy of several is asked by the menu
    if not cases:  # a photo here held no checkpoint's QR code (see the router)
        lead = ctx.text("scan.no_qr") if ctx.incoming.kind is Kind.PHOTO else ""
        await show_menu(ctx, lead=lead)
    elif ctx.incoming.kind is Kind.PHOTO and case:
        await _lone_selfie(ctx, case)
    elif ctx.incoming.kind is Kind.TEXT:
        await show_menu(ctx, lead=ctx.text("quarantine.unwell_offer"))
    else:
        await show_menu(ctx)


async def _lone_selfie(ctx: Context, case: Case) -> None:
    """Take the photo as the selfie first; with no window to fill, offer an extra declaration."""
    placement = await _placement(ctx, case)
    ctx.conversation.data = {"case": case.id, "unwell": False, "extra": placement.window is None}
    ctx.conversation.flow, ctx.conversation.step = DECLARATION.name, "early_selfie"
    await resume(ctx, DECLARATION)  # this very photo answers the selfie step


async def _already_declared(ctx: Context, case: Case, placement: Placement) -> None:
    """Show the declaration that already fills the window (one per window)."""
    schedule = ctx.services.policy.schedule
    window = placement.window or schedule.open_window(ctx.services.clock.now())
    assert window is not None  # only an on-time or late placement can find its window taken
    found = await ctx.services.declarations.on_dates([case.id], [window.local_date])
    declared = next(d for d in found if d.slot == window.slot)
    if declared.id == ctx.new_id("declaration"):
        # This very update stored it, before a crash: answer as the first time would have.
        await _receipt(ctx, declared)
        return
    await ctx.say(
        "quarantine.already_declared",
        slot=window_name(ctx.lang, window.slot),
        at=ctx.local_time(declared.submitted_at),
        receipt=declared.receipt,
    )
    await show_menu(ctx)


async def ask_any(ctx: Context) -> None:
    """One tap for the usual answer: no symptoms at all."""
    buttons = [
        [Button(ctx.text("quarantine.no_symptoms"), "none")],
        [Button(ctx.text("quarantine.some_symptoms"), "some")],
    ]
    await ctx.say("quarantine.any_symptoms", buttons=buttons)


async def take_any(ctx: Context) -> str | None:
    """No symptoms → the selfie; symptoms → each question."""
    if ctx.choice == "none":
        ctx.conversation.data["answers"] = Answers().model_dump()
        return await _after_questions(ctx)
    if ctx.choice == "some":
        return "fever"
    await ctx.choose_again()
    return None


async def ask_temperature(ctx: Context) -> None:
    """The measured temperature."""
    await ctx.say("quarantine.temperature")


async def take_temperature(ctx: Context) -> str | None:
    """34.0–43.0 °C, with a comma or a dot."""
    typed = ctx.incoming.text.strip().replace(",", ".").removesuffix("°C").strip()
    try:
        value = float(typed)
    except ValueError:
        value = 0.0
    if not 34.0 <= value <= 43.0:
        await ctx.say("quarantine.temperature_invalid", text=ctx.incoming.text.strip()[:20])
        return None
    ctx.conversation.data["answers"]["temperature"] = value
    return "cough"


async def ask_other(ctx: Context) -> None:
    """Any other symptom, in the user's words."""
    await ctx.say("quarantine.other", buttons=[[Button(ctx.text("quarantine.other_none"), "none")]])


async def take_other(ctx: Context) -> str | None:
    """Free text (at most 300 characters) or "none"."""
    if ctx.choice != "none" and (ctx.incoming.kind is not Kind.TEXT or not ctx.incoming.text):
        await ctx.choose_again()
        return None
    other = "" if ctx.choice == "none" else " ".join(ctx.incoming.text.split())[:300]
    ctx.conversation.data["answers"]["other"] = other
    return await _after_questions(ctx)


async def _after_questions(ctx: Context) -> str:
    """The selfie next, unless it came first: then the declaration is complete."""
    kept = ctx.conversation.data.get("selfie")
    if kept is None:
        return "selfie"
    if await location.still_to_offer(ctx):  # the selfie came first: the position last
        return "location"
    case = await _case_of_flow(ctx)
    if case is not None:
        await _save(ctx, case, Selfie(**kept))
    return END


async def ask_selfie(ctx: Context) -> None:
    """Ask for a photo of the face (and where the resident is, in one tap)."""
    await location.ask_with_selfie(ctx, ctx.text("quarantine.selfie"))


async def take_selfie(ctx: Context) -> str | None:
    """Store the photo and the declaration, answer with a receipt, page staff on symptoms.

    The receipt waits only for the photo to be normalised and its faces counted: the face
    comparison and re-use checks, which only feed staff review, run afterwards
    (scheduler/selfie_checks.py).
    """
    case = await _case_of_flow(ctx)
    if case is None:
        return END
    if await location.answered(ctx) or await location.refused_without(ctx):
        return None
    accepted = await _accepted_photo(ctx)
    if accepted is None:
        return None
    photo, flags = accepted
    selfie = Selfie(ctx.new_id("selfie"), f"{photo.dhash:016x}", flags, photo.jpeg)
    await _save(ctx, case, selfie)
    return END


async def take_early_selfie(ctx: Context) -> str | None:
    """A selfie sent before any question: stored now, used when the answers are in."""
    case = await _case_of_flow(ctx)
    if case is None:
        return END
    accepted = await _accepted_photo(ctx)
    if accepted is None:
        return None
    photo, flags = accepted
    selfie_id = ctx.new_id("selfie")
    await ctx.services.photos.put(selfie_id, photo.jpeg, case.id)
    kept = {"id": selfie_id, "dhash": f"{photo.dhash:016x}", "flags": flags}
    ctx.conversation.data["selfie"] = kept
    return "extra" if ctx.conversation.data.get("extra") else DECLARATION.first


async def ask_extra(ctx: Context) -> None:
    """No window to fill now: declare anyway, with the photo just sent?"""
    await ctx.say("quarantine.extra_offer", buttons=yes_no(ctx))


async def take_extra(ctx: Context) -> str | None:
    """Yes → the questions; no → the kept photo is deleted."""
    if ctx.choice == "yes":
        return DECLARATION.first
    if ctx.choice != "no":
        await ctx.choose_again()
        return None
    await ctx.services.photos.delete([ctx.conversation.data["selfie"]["id"]])
    await show_menu(ctx, lead=ctx.text("quarantine.extra_declined"))
    return END


async def take_location(ctx: Context) -> str | None:
    """The position (or its skip), after a selfie sent first."""
    if not await location.answered(ctx):
        await location.ask_alone(ctx)
        return None
    return await _after_questions(ctx)


def _symptomatic(ctx: Context) -> bool:
    """The answers so far show symptoms: staff are paged with the first photo, retaken or not."""
    return Answers.model_validate(ctx.conversation.data.get("answers", {})).symptomatic


async def _case_of_flow(ctx: Context) -> Case | None:
    """The case this declaration is for, or None (user told) when it ended meanwhile."""
    chosen = ctx.conversation.data.get("case")
    case = next((c for c in await ctx.cases_to_declare() if c.id == chosen), None)
    if case is None:
        await ctx.say("quarantine.not_in_quarantine")
        return None
    return case


async def _accepted_photo(ctx: Context) -> tuple[NormalisedPhoto, list[str]] | None:
    """This update's photo, normalised, with its arrival flags; None (user told why) when it
    has to be sent again."""
    photo = ctx.incoming.photo
    if ctx.incoming.kind is not Kind.PHOTO or photo is None:
        await ctx.say("quarantine.selfie_expected")
        return None
    # "typing…" while the photo is fetched, not before.
    _, normalised = await asyncio.gather(
        ctx.out.send_action(ctx.incoming.chat_id, Action.TYPING), downloaded_photo(ctx, photo)
    )
    if normalised is None:
        return None
    reason = retake_reason(normalised)
    if reason is None:
        return normalised, []
    retakes = int(ctx.conversation.data.get("retakes", 0))
    if retakes < MAX_RETAKES and not _symptomatic(ctx):
        ctx.conversation.data["retakes"] = retakes + 1
        await ctx.say(f"quarantine.retake_{reason.value}")
        return None
    return normalised, [RETAKE_FLAGS[reason].value]


async def _save(ctx: Context, case: Case, selfie: Selfie) -> None:
    services, now = ctx.services, ctx.services.clock.now()
    placement = _counted(await _placement(ctx, case), ctx.conversation.data)
    if placement.timing is Timing.ON_TIME and placement.window is None:
        await _already_declared(ctx, case, placement)
        return
    window = placement.window
    declaration = Declaration(
        id=ctx.new_id("declaration"),
        receipt="".join(secrets.choice(CODE_ALPHABET) for _ in range(8)),
        case_id=case.id,
        area=case.area,
        local_date=window.local_date if window else services.policy.schedule.local_date(now),
        slot=window.slot if window else None,
        timing=placement.timing.value,
        answers=Answers.model_validate(ctx.conversation.data.get("answers", {})),
        selfie_id=selfie.id,
        dhash=selfie.dhash,
        flags=selfie.flags,
        checks_pending=True,
        location=await location.checked(ctx, case),
        declared_by=_proxy_of(ctx, case),
        submitted_at=now,
    )
    page = await _page(ctx, case, declaration)
    stored = await services.declarations.add(declaration, page, selfie.jpeg)
    if stored is None:  # declared meanwhile elsewhere
        await _already_declared(ctx, case, placement)
        return
    if page:
        services.wake_dispatchers()
    services.check_selfie_later(stored.id)
    await _receipt(ctx, stored)


def _proxy_of(ctx: Context, case: Case) -> str:
    """Who declares for the resident ("" when the resident declares themselves)."""
    assert ctx.account is not None  # only registered users reach a declaration
    return "" if case.person_id == ctx.account.person_id else ctx.account.person_id


async def _page(ctx: Context, case: Case, declaration: Declaration) -> list[OutgoingMessage]:
    """The page to staff if the answers show symptoms (queued with the declaration)."""
    if not declaration.answers.symptomatic:
        return []
    person = await ctx.services.people.get(case.person_id)
    return await symptom_page(ctx.services, case, person, declaration)


async def _receipt(ctx: Context, declaration: Declaration) -> None:
    """What was stored, by when, and what happens next, with the menu."""
    timing = ctx.text(f"quarantine.timing_{declaration.timing}")
    slot = (
        window_name(ctx.lang, declaration.slot) if declaration.slot else ctx.text("windows.adhoc")
    )
    lines = [
        ctx.text(
            "quarantine.receipt",
            slot=slot,
            at=ctx.local_time(declaration.submitted_at),
            timing=timing,
            receipt=declaration.receipt,
        )
    ]
    if declaration.declared_by:
        lines.append(await _declared_for(ctx, declaration))
    if declaration.answers.symptomatic:
        lines.append(ctx.text("quarantine.symptoms_advice"))
    place = location.receipt_line(ctx, declaration)
    if place:
        lines.append(place)
    await show_menu(ctx, lead="\n\n".join(lines))  # one message: cheap phones, busy chats


async def _declared_for(ctx: Context, declaration: Declaration) -> str:
    """The receipt's line naming whom a proxy declared for."""
    case = await ctx.services.cases.get(declaration.case_id)
    person = await ctx.services.people.get(case.person_id) if case else None
    name = person.name if person else ctx.text("case.person_erased")
    return ctx.text("proxy.receipt_for", name=name, number=case.number if case else "?")


DECLARATION = Flow(
    name="declaration",
    first="any",
    steps={
        "whom": Step(ask_whom, take_whom),
        "any": Step(ask_any, take_any),
        "fever": yes_no_step("quarantine", "fever", "cough", if_yes="temperature"),
        "temperature": Step(ask_temperature, take_temperature),
        "cough": yes_no_step("quarantine", "cough", "breath"),
        "breath": yes_no_step("quarantine", "breath", "throat"),
        "throat": yes_no_step("quarantine", "throat", "taste_smell"),
        "taste_smell": yes_no_step("quarantine", "taste_smell", "fatigue"),
        "fatigue": yes_no_step("quarantine", "fatigue", "other"),
        "other": Step(ask_other, take_other),
        "selfie": Step(ask_selfie, take_selfie),
        "early_selfie": Step(ask_selfie, take_early_selfie),
        "extra": Step(ask_extra, take_extra),
        "location": Step(location.ask_alone, take_location),
    },
)
