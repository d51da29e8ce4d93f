"""Deletion means deletion: /delete erases a person from every collection, on every
platform, and keeps only an anonymised record; during quarantine it waits for the end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from bot.app import Service
from core.channel import Platform
from core.clock import FixedClock
from core.models import (
    DAILY_NOTICE_PREFIX,
    Account,
    Answers,
    Card,
    Case,
    ChatRef,
    Consent,
    DailyCheck,
    Declaration,
    Invite,
    OutgoingMessage,
    Person,
    Visit,
    Worker,
)
from sandbox.server import Sandbox
from storage.database import Storage
from tests.chat import User
from tests.conftest import at
from tests.images import ASTRONAUT, encode

ZALO_ID = "f1e2d3c4b5a697881122"


@pytest.fixture
async def telegram_user(sandbox: Sandbox, service: Service) -> AsyncIterator[User]:
    """A resident on Telegram (their other account is on Zalo)."""
    resident = User(sandbox.url, "telegram", "100001")
    yield resident
    await resident.aclose()


async def a_resident_with_history(
    storage: Storage, telegram_id: str, person_id: str, number: int, active: bool
) -> Case:
    """A person with accounts on both platforms, a case with two declarations and selfies,
    an invitation, a served copy of a selfie, messages to their chats and pages about them."""
    created = at(8, 0, day=20)
    await storage.people.add(
        Person(
            id=person_id,
            name=f"Người số {number}",
            phone=f"+8491000000{number}",
            area="tan-ha",
            address="Ấp Tân Lợi",
            consent=Consent(version="2026-11", at=created),
            created_at=created,
        )
    )
    chats = [(Platform.TELEGRAM, telegram_id), (Platform.ZALO, f"{ZALO_ID[:-1]}{number}")]
    for platform, user_id in chats:
        await storage.accounts.save(
            Account(
                platform=platform,
                user_id=user_id,
                chat_id=user_id,
                person_id=person_id,
                created_at=created,
            )
        )
    staff_chat = ChatRef(platform=Platform.TELEGRAM, chat_id="-1007")
    case = Case(
        id=f"case-{number}",
        number=number,
        person_id=person_id,
        area="tan-ha",
        start=created.date(),
        end=created.date() + timedelta(days=13),
        staff_chat=staff_chat,
        officer="test",
        reference_selfie=f"selfie-{number}-0",
        created_at=created,
    )
    assert await storage.cases.add(case)
    for n in range(2):
        selfie = f"selfie-{number}-{n}"
        jpeg = encode(ASTRONAUT.rotate(n * 3 + number * 10), quality=80 + n)
        await storage.photos.put(selfie, jpeg, case.id)
        await storage.declarations.add(
            Declaration(
                id=f"decl-{number}-{n}",
                receipt=f"RC{number}{n}XXXXX"[:8],
                case_id=case.id,
                area="tan-ha",
                local_date=created.date(),
                slot=None,
                timing="adhoc",
                answers=Answers(cough=True),
                selfie_id=selfie,
                submitted_at=created,
            ),
            [
                OutgoingMessage(
                    key=f"page:decl-{number}-{n}",
                    platform=staff_chat.platform,
                    chat_id=staff_chat.chat_id,
                    text=f"Người số {number} ho",
                )
            ],
        )
        await storage.media.put(jpeg, "image/jpeg")
    await storage.invites.add(
        Invite(
            id=f"00000000000{number}",
            code=f"KBAAAAAAA{number}",
            case_id=case.id,
            expires_at=created + timedelta(hours=72),
        )
    )
    await storage.outbox.enqueue(
        [
            OutgoingMessage(key=f"welcome:{number}:{p}", platform=p, chat_id=c, text="Chào")
            for p, c in chats
        ]
    )
    await storage.conversations.save(
        (await storage.conversations.get(Platform.ZALO, chats[1][1])).model_copy(
            update={"flow": "declaration", "step": "any"}
        )
    )
    await a_worker_with_scans(storage, person_id, number, created)
    if not active:
        assert await storage.cases.end(case.id, "đã xong", created + timedelta(days=14))
    return case


async def a_worker_with_scans(
    storage: Storage, person_id: str, number: int, created: datetime
) -> None:
    """Their scans, a daily declaration staff were told of, a worker list entry, a card."""
    phone = f"+8491000000{number}"
    checkpoint = f"00000000000{number}"
    await storage.visits.check_in(
        Visit(
            id=f"visit-{number}",
            person_id=person_id,
            checkpoint_id=checkpoint,
            in_at=created,
            due_at=created + timedelta(hours=12),
        )
    )
    day = created.date()
    await storage.daily_checks.add(
        DailyCheck(
            person_id=person_id,
            day=day,
            symptoms=True,
            contact=False,
            travel=False,
            checkpoint_id=checkpoint,
            at=created,
        )
    )
    await storage.outbox.enqueue(
        [
            OutgoingMessage(
                key=f"{DAILY_NOTICE_PREFIX}{person_id}/{day}/telegram:200002",
                platform=Platform.TELEGRAM,
                chat_id="200002",
                text=f"Người số {number} sốt",
            )
        ]
    )
    await storage.workers.upsert(
        Worker(
            id=f"org-{number}/{phone}",
            org_id=f"org-{number}",
            phone=phone,
            name=f"Người số {number}",
            added_by="t",
            added_at=created,
        )
    )
    await storage.cards.add(
        Card(
            id=checkpoint,
            person_id=person_id,
            code=f"KBCCCCCCC{number}",
            created_by="t",
            created_at=created,
        )
    )


async def everything_about(storage: Storage, person_id: str, case: Case) -> dict[str, int]:
    """How many documents anywhere still hold something of this person."""
    db = storage.db
    counts = {
        "people": await db["people"].count_documents({"_id": person_id}),
        "accounts": await db["channel_accounts"].count_documents({"person_id": person_id}),
        "cases": await db["cases"].count_documents({"person_id": person_id}),
        "declarations": await db["declarations"].count_documents({"case_id": case.id}),
        "selfies": await db["selfies"].count_documents({"case_id": case.id}),
        "invites": await db["invites"].count_documents({"case_id": case.id}),
        "pages": await db["outbox"].count_documents(
            {"key": {"$regex": f"^page:decl-{case.number}-"}}
        ),
        "messages": await db["outbox"].count_documents(
            {"key": {"$regex": f"^welcome:{case.number}:"}}
        ),
        "conversations": await db["conversations"].count_documents(
            {"user_id": f"{ZALO_ID[:-1]}{case.number}"}
        ),
        "visits": await db["visits"].count_documents({"person_id": person_id}),
        "daily_checks": await db["daily_checks"].count_documents({"person_id": person_id}),
        "daily_notices": await db["outbox"].count_documents(
            {"key": {"$regex": f"^{DAILY_NOTICE_PREFIX}{person_id}/"}}
        ),
        "worker_entries": await db["workers"].count_documents({"name": f"Người số {case.number}"}),
        "cards": await db["cards"].count_documents({"person_id": person_id}),
    }
    return counts


async def test_delete_erases_everything_everywhere_and_says_what(
    telegram_user: User, storage: Storage
) -> None:
    user = telegram_user
    case = await a_resident_with_history(storage, user.user_id, "p-erased", 1, active=False)
    kept = await a_resident_with_history(storage, "987654", "p-kept", 2, active=False)
    media_before = await storage.db["media"].count_documents({})
    await user.says("/delete")
    [done] = await user.choose("🗑 Xóa thông tin")
    assert "Đã xóa toàn bộ thông tin" in done["text"]
    assert "2 tài khoản" in done["text"] and "1 ca cách ly" in done["text"]
    assert "2 lần khai báo" in done["text"] and "2 ảnh" in done["text"]
    remaining = await everything_about(storage, "p-erased", case)
    assert remaining == {kind: 0 for kind in remaining}
    assert await storage.db["media"].count_documents({}) == media_before - 2
    [record] = [r async for r in storage.db["erasures"].find({}, {"_id": 0})]
    written = json.dumps(record, default=str)
    assert "p-erased" not in written and "Người số 1" not in written and "+849" not in written
    assert record["erased"]["declarations"] == 2
    # Someone else's data is untouched.
    untouched = await everything_about(storage, "p-kept", kept)
    assert all(count > 0 for kind, count in untouched.items() if kind != "conversations")
    [me] = await user.says("/me")
    assert "Chưa đăng ký" in me["text"]


async def test_delete_during_quarantine_waits_for_the_end_of_the_case(
    telegram_user: User, storage: Storage, service: Service, clock: FixedClock
) -> None:
    user = telegram_user
    case = await a_resident_with_history(storage, user.user_id, "p-in-quarantine", 1, active=True)
    await user.says("/delete")
    explained, _menu = await user.choose("🗑 Xóa thông tin", 2)
    assert "đang trong thời gian cách ly" in explained["text"]
    assert "sẽ được xóa ngay sau khi ca cách ly kết thúc" in explained["text"]
    await service.erase_requested()  # the case still runs: nothing goes
    assert (await everything_about(storage, "p-in-quarantine", case))["declarations"] == 2
    assert await storage.cases.end(case.id, "hết hạn", clock.now())
    await service.erase_requested()
    remaining = await everything_about(storage, "p-in-quarantine", case)
    assert remaining == {kind: 0 for kind in remaining}
    [goodbye] = await user.replies()
    assert "đã xóa toàn bộ thông tin" in goodbye["text"]
