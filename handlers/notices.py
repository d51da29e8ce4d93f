"""Proactive messages built by conversation logic and sent through the outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from core.channel import Button, Platform
from core.dates import format_date, format_moment
from core.models import (
    Account,
    Answers,
    Case,
    ChatRef,
    Declaration,
    OutgoingMessage,
    Person,
    Priority,
    Staff,
    StaffChat,
)
from core.phone import display_phone
from core.texts import decimal, t
from handlers.context import Services

STAFF_LANGUAGE = "vi"


def welcome_text(lang: str, services: Services, case: Case, person: Person) -> str:
    """What a resident is told when their case starts: dates and the daily schedule."""
    deadlines = ", ".join(d.strftime("%H:%M") for d in services.policy.schedule.deadlines)
    return t(
        lang,
        "quarantine.welcome",
        name=person.name,
        number=case.number,
        start=format_date(case.start),
        end=format_date(case.end),
        deadlines=deadlines,
    )


def to_accounts(
    key: str,
    accounts: Iterable[Account],
    text: Callable[[str], str],
    buttons: Callable[[Account], list[list[Button]]] = lambda _: [],
) -> list[OutgoingMessage]:
    """One message per account that has not blocked us, in the account's language and form."""
    return [
        OutgoingMessage(
            key=f"{key}:{a.platform.value}",
            platform=a.platform,
            chat_id=a.chat_id,
            text=text(a.voice),
            buttons=buttons(a),
        )
        for a in accounts
        if not a.blocked
    ]


async def tell_resident(
    services: Services, case: Case, key: str, text_key: str, **values: object
) -> None:
    """Queue a message about a case to every chat of its resident, in their language."""
    accounts = await services.accounts.of_person(case.person_id)

    def text(lang: str) -> str:
        return t(lang, text_key, number=case.number, **values)

    await services.outbox.enqueue(to_accounts(key, accounts, text))
    services.wake_dispatchers()


def to_staff(
    key: str,
    members: Iterable[Staff],
    text: Callable[[Staff], str],
    buttons: Callable[[Staff], list[list[Button]]] = lambda _: [],
    priority: Priority = Priority.EMERGENCY,
) -> list[OutgoingMessage]:
    """One message per staff member, to their private chat (texts in `member.language`)."""
    return [
        OutgoingMessage(
            key=f"{key}/{member.platform.value}:{member.user_id}",
            platform=member.platform,
            chat_id=member.user_id,
            text=text(member),
            buttons=buttons(member),
            priority=priority,
        )
        for member in members
    ]


ChatText = Callable[[Platform, str], str]  # a text for a chat on this platform, in this language


def to_chats(
    key: str,
    chats: Iterable[StaffChat],
    text: ChatText,
    buttons: Callable[[Platform, str], list[list[Button]]] = lambda _, __: [],
    priority: Priority = Priority.EMERGENCY,
) -> list[OutgoingMessage]:
    """One message per bound staff group chat, each once (texts in the groups' language)."""
    unique = dict.fromkeys((c.chat.platform, c.chat.chat_id) for c in chats)
    return [
        OutgoingMessage(
            key=f"{key}/{platform.value}:{chat_id}",
            platform=platform,
            chat_id=chat_id,
            text=text(platform, STAFF_LANGUAGE),
            buttons=buttons(platform, STAFF_LANGUAGE),
            priority=priority,
        )
        for platform, chat_id in unique
    ]


async def chats_covering(services: Services, areas: Sequence[str]) -> list[StaffChat]:
    """The staff group chats bound to every one of `areas`, or to the whole district."""
    if not areas:
        return [chat for chat in await services.staff_chats.all() if not chat.areas]
    bound = await services.staff_chats.for_area(areas[0])
    return [chat for chat in bound if not chat.areas or set(areas) <= set(chat.areas)]


async def queue(services: Services, messages: list[OutgoingMessage]) -> None:
    """Enqueue proactive messages (keys make a repeat harmless) and wake the dispatchers."""
    if messages:
        await services.outbox.enqueue(messages)
        services.wake_dispatchers()


def declare_button(account: Account) -> list[list[Button]]:
    """A «declare now» button on Telegram (Zalo texts say to send /khaibao instead)."""
    if account.platform is not Platform.TELEGRAM:
        return []
    return [[Button(t(account.language, "quarantine.declare_button"), "act:declare")]]


def describe_answers(lang: str, answers: Answers) -> str:
    """The symptoms in one line each (or "no symptoms")."""
    lines = [
        t(lang, f"answers.{name}")
        for name in ("fever", "cough", "breath", "throat", "taste_smell", "fatigue")
        if getattr(answers, name)
    ]
    if answers.temperature is not None:
        lines.append(t(lang, "answers.temperature", value=decimal(lang, answers.temperature)))
    if answers.other:
        lines.append(t(lang, "answers.other", value=answers.other))
    return "\n".join(f"• {line}" for line in lines) or t(lang, "answers.none")


async def symptom_page(
    services: Services, case: Case, person: Person | None, declaration: Declaration
) -> list[OutgoingMessage]:
    """The emergency page to the case's staff chat: who, where, what, then the selfie.

    Text and photo are two messages, so a photo the platform cannot fetch or show never
    holds back the text.
    """
    lang = await staff_language(services, case.staff_chat)
    chat = case.staff_chat
    page = OutgoingMessage(
        key=page_key(declaration),
        platform=chat.platform,
        chat_id=chat.chat_id,
        text=await page_text(lang, services, case, person, declaration),
        buttons=_ack_button(lang, case, declaration),
        priority=Priority.EMERGENCY,
    )
    if declaration.selfie_id is None:
        return [page]
    caption = t(lang, "page.photo_caption", number=case.number, receipt=declaration.receipt)
    photo = page.model_copy(
        update={
            "key": f"{page_key(declaration)}:photo",
            "text": caption,
            "buttons": [],
            "photo_id": declaration.selfie_id,
        }
    )
    return [page, photo]


def _ack_button(lang: str, case: Case, declaration: Declaration) -> list[list[Button]]:
    """The page's «I take it» button until someone has taken it.

    Zalo shows buttons as numbers tied to a conversation; there staff type /ack instead.
    """
    if declaration.ack is not None or case.staff_chat.platform is not Platform.TELEGRAM:
        return []
    return [[Button(t(lang, "page.ack_button"), f"ack:{declaration.receipt}")]]


async def update_page(services: Services, declaration: Declaration, why: str) -> None:
    """Edit a sent page to show what changed (`why`: "taken", "flagged"); Zalo gets it anew."""
    case = await services.cases.get(declaration.case_id)
    if case is None or not declaration.answers.symptomatic:
        return
    person = await services.people.get(case.person_id)
    lang = await staff_language(services, case.staff_chat)
    edit = OutgoingMessage(
        key=f"{page_key(declaration)}:{why}",
        replaces=page_key(declaration),
        platform=case.staff_chat.platform,
        chat_id=case.staff_chat.chat_id,
        text=await page_text(lang, services, case, person, declaration),
        buttons=_ack_button(lang, case, declaration),
        priority=Priority.EMERGENCY,
    )
    await services.outbox.enqueue([edit])
    services.wake_dispatchers()


async def flagged_in_background(services: Services, declaration_id: str) -> None:
    """The background check flagged a selfie: its symptom page says so too."""
    declaration = await services.declarations.get(declaration_id)
    if declaration is not None:
        await update_page(services, declaration, "flagged")


def page_key(declaration: Declaration) -> str:
    """The outbox key of a declaration's symptom page (edited when someone takes it over)."""
    return f"page:{declaration.id}"


async def staff_language(services: Services, chat: ChatRef) -> str:
    """The language of a staff chat: a private chat's own, Vietnamese for a group."""
    account = await services.accounts.get(chat.platform, chat.chat_id)
    if account:
        return account.language
    staff = await services.staff.get(chat.platform, chat.chat_id)
    return staff.language if staff else STAFF_LANGUAGE


async def page_text(
    lang: str, services: Services, case: Case, person: Person | None, declaration: Declaration
) -> str:
    """The page: who, where, what was declared, flags on the selfie, and who took it over."""
    lines = [
        t(lang, "page.title", number=case.number),
        t(
            lang,
            "page.body",
            name=person.name if person else t(lang, "case.person_erased"),
            phone=display_phone(person.phone) if person else "—",
            address=person.address if person else "—",
            area=services.areas.name(case.area),
            at=format_moment(declaration.submitted_at, services.timezone),
            answers=describe_answers(lang, declaration.answers),
        ),
    ]
    if declaration.declared_by:
        lines.append(t(lang, "proxy.page_by", name=await proxy_name(lang, services, declaration)))
    if declaration.flags:
        flags = ", ".join(t(lang, f"review.flag_{flag}") for flag in declaration.flags)
        lines.append(t(lang, "page.flagged", flags=flags))
    ack = declaration.ack
    if ack is None:
        lines.append(t(lang, "page.how_to_ack", receipt=declaration.receipt))
    else:
        who = ack.name or t(lang, "page.someone")
        lines.append(t(lang, "page.taken", who=who, at=format_moment(ack.at, services.timezone)))
    return "\n".join(lines)


async def proxy_name(lang: str, services: Services, declaration: Declaration) -> str:
    """The name of whoever declared for the resident (or a note that they erased their data)."""
    proxy = await services.people.get(declaration.declared_by)
    return proxy.name if proxy else t(lang, "case.person_erased")
