"""The daily health declaration of workers and visitors, asked at their first scan of a day.

Three questions (symptoms, contact with a case, travel in the last 14 days); a "yes" tells
the organisation's managers and the commune's health staff at once.
"""

from __future__ import annotations

from core.models import (
    DAILY_NOTICE_PREFIX,
    Checkpoint,
    DailyCheck,
    Person,
    Role,
    Staff,
)
from core.phone import display_phone
from core.texts import t
from handlers.context import Context, Services
from handlers.flow import END, Flow, Step, begin, yes_no_step
from handlers.notices import chats_covering, queue, to_chats, to_staff

QUESTIONS = ("symptoms", "contact", "travel")
COMMUNE_ROLES = frozenset({Role.COMMUNE_STAFF, Role.HEALTH_OFFICER})


async def ask_daily_check(ctx: Context, checkpoint: Checkpoint) -> None:
    """Start the day's three questions for the person who just checked in."""
    await ctx.say("daily.intro")
    await begin(ctx, DAILY_CHECK, data={"checkpoint": checkpoint.id})


async def _save(ctx: Context) -> str:
    """Store the day's answers (the first ones of a day count) and thank the person."""
    assert ctx.account is not None
    services, data = ctx.services, ctx.conversation.data
    answers = {question: bool(data["answers"][question]) for question in QUESTIONS}
    check = DailyCheck(
        person_id=ctx.account.person_id,
        day=services.today(),
        checkpoint_id=str(data["checkpoint"]),
        at=services.clock.now(),
        **answers,
    )
    if await services.daily_checks.add(check) and check.worrying:
        await _tell_staff(services, check, ctx.local_time(check.at))
    await ctx.say("daily.worrying" if check.worrying else "daily.thanks")
    return END


async def _tell_staff(services: Services, check: DailyCheck, when: str) -> None:
    """The managers of the checkpoint's organisation, the commune's health staff and the
    staff group chats bound to the commune."""
    checkpoint = await services.checkpoints.get(check.checkpoint_id)
    person = await services.people.get(check.person_id)
    if checkpoint is None or person is None:
        return
    org = await services.orgs.get(checkpoint.org_id)

    def place(lang: str) -> str:
        if org is None:
            return checkpoint.name
        return t(lang, "scan.place", checkpoint=checkpoint.name, org=org.name)

    told = [member for member in await services.staff.all() if _told(member, checkpoint)]

    def notice(lang: str) -> str:
        return _notice(lang, check, person, place(lang), when)

    key = f"{DAILY_NOTICE_PREFIX}{check.person_id}/{check.day}"
    chats = await chats_covering(services, [checkpoint.area])
    messages = [
        *to_staff(key, told, lambda member: notice(member.language)),
        *to_chats(key, chats, lambda _, lang: notice(lang)),
    ]
    await queue(services, messages)


def _told(member: Staff, checkpoint: Checkpoint) -> bool:
    """Whether a staff member hears of worrying answers given at this checkpoint."""
    if member.role is Role.ORG_MANAGER:
        return checkpoint.org_id in member.orgs
    return member.role in COMMUNE_ROLES and checkpoint.area in member.areas


def _notice(lang: str, check: DailyCheck, person: Person, place: str, when: str) -> str:
    """The notice to staff: who, where, when, and which answers were "yes"."""
    said = [t(lang, f"daily.said_{question}") for question in QUESTIONS if getattr(check, question)]
    return t(
        lang,
        "daily.notice",
        name=person.name,
        phone=display_phone(person.phone),
        place=place,
        time=when,
        answers="\n".join(f"• {line}" for line in said),
    )


_TRAVEL = yes_no_step("daily", "travel", END)


async def _take_last_answer(ctx: Context) -> str | None:
    """The last question's answer; then the day's declaration is stored."""
    return None if await _TRAVEL.take(ctx) is None else await _save(ctx)


DAILY_CHECK = Flow(
    name="daily_check",
    first="symptoms",
    steps={
        "symptoms": yes_no_step("daily", "symptoms", "contact"),
        "contact": yes_no_step("daily", "contact", "travel"),
        "travel": Step(_TRAVEL.ask, _take_last_answer),
    },
)
