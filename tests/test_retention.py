"""Retention: each data class deleted past its period in bounded batches, a deletion log of
counts only, a dry run that changes nothing, and face descriptors gone when a case ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.app import Service
from core.channel import Platform
from core.clock import FixedClock
from core.models import (
    Answers,
    Case,
    CaseStatus,
    ChatRef,
    Checkpoint,
    CheckpointKind,
    Declaration,
    FieldReport,
    ReportCategory,
    Visit,
    report_photo_owner,
)
from core.retention import DataClass, RetentionRules
from scheduler.retention import RetentionRun, apply, pending
from storage.audit import AuditRepo
from storage.database import Storage
from tests.chat import User
from tests.conftest import TEST_AUDIT_KEY, at
from tests.test_casework import DAY, a_case, chat_of
from tests.test_checkpoints import bot_cli

JPEG = b"\xff\xd8\xff\xe0 not really a photo"
FACE = [0.1] * 128
KEY = TEST_AUDIT_KEY.encode()
EXPECTED = {
    DataClass.SELFIES: 4,  # cases ended 40 and 100 days ago, two selfies each
    DataClass.DECLARATIONS: 2,  # the case ended 100 days ago
    DataClass.VISITS: 2,  # the visits 40 days ago (a short one and a long one)
    DataClass.REPORT_PHOTOS: 2,  # the report of 100 days ago
    DataClass.AUDIT: 3,  # the entries of 800 days ago
}


async def seed(storage: Storage, now: datetime) -> None:
    """Old and recent data of every class, relative to `now`."""
    staff_chat = ChatRef(platform=Platform.TELEGRAM, chat_id="-100")
    for number, ended_days_ago in ((1, 40), (2, 100), (3, 5), (4, None)):
        await a_case_with_selfies(storage, number, staff_chat, now, ended_days_ago)
    await visits(storage, now)
    for number, days_ago, photos in ((1, 100, 2), (2, 10, 1)):
        await a_report(storage, number, now - timedelta(days=days_ago), photos)
    for days_ago, count in ((800, 3), (10, 2)):
        moment = FixedClock(now - timedelta(days=days_ago))
        old = AuditRepo(storage.db, moment, KEY)
        for n in range(count):
            await old.append("telegram:1", "case.view", True, target=f"c{n}")


async def a_case_with_selfies(
    storage: Storage, number: int, staff_chat: ChatRef, now: datetime, ended_days_ago: int | None
) -> Case:
    """A case with two selfie declarations, ended that many days ago (None: active)."""
    case = await a_case(storage, number, staff_chat)
    for n in range(2):
        selfie = f"selfie-{number}-{n}"
        await storage.photos.put(selfie, JPEG, case.id)
        declaration = Declaration(
            id=f"d{number}-{n}",
            receipt=f"RC{number}{n}XXXX",
            case_id=case.id,
            area=case.area,
            local_date=DAY,
            slot=None,
            timing="adhoc",
            answers=Answers(),
            selfie_id=selfie,
            submitted_at=now - timedelta(days=120),
        )
        assert await storage.declarations.add(declaration)
    assert await storage.cases.set_reference(case.id, FACE, f"selfie-{number}-0")
    if ended_days_ago is not None:
        ended = await storage.cases.end(case.id, "xong", now - timedelta(days=ended_days_ago))
        assert ended is not None
    return case


async def visits(storage: Storage, now: datetime) -> None:
    """At a canteen and a dormitory: two visits 40 days ago, two 10 days ago."""
    for kind in (CheckpointKind.CANTEEN, CheckpointKind.DORMITORY):
        checkpoint = await storage.checkpoints.add(
            Checkpoint(
                id=f"cp-{kind.value}",
                org_id="org",
                kind=kind,
                name=kind.value,
                area="tan-ha",
                code=f"KB{kind.value[:8].upper():X<8}",
                created_by="t",
                created_at=now,
            )
        )
        hours = 2 if kind is CheckpointKind.CANTEEN else 10
        for days_ago in (40, 10):
            start = now - timedelta(days=days_ago)
            await storage.visits.check_in(
                Visit(
                    id=f"v-{kind.value}-{days_ago}",
                    person_id=f"p{days_ago}",
                    checkpoint_id=checkpoint.id,
                    in_at=start,
                    due_at=start + timedelta(hours=12),
                    out_at=start + timedelta(hours=hours),
                    closed="scan",
                )
            )


async def a_report(storage: Storage, number: int, created: datetime, photos: int) -> None:
    """A citizen's field report sent with photos."""
    owner = report_photo_owner(Platform.ZALO, f"z{number}")
    ids = [f"report-{number}-{n}" for n in range(photos)]
    for photo_id in ids:
        await storage.photos.put(photo_id, JPEG, owner)
    await storage.reports.add(
        FieldReport(
            id=f"r{number}",
            number=0,
            platform=Platform.ZALO,
            user_id=f"z{number}",
            chat_id=f"z{number}",
            area="tan-ha",
            category=ReportCategory.EPIDEMIC,
            text="Có người sốt",
            photos=ids,
            created_at=created,
        )
    )


async def left(storage: Storage) -> dict[str, object]:
    """What remains of each class, by id (audit: by seq)."""
    db = storage.db
    return {
        "selfies": sorted([d["_id"] async for d in db["selfies"].find({}, {"_id": 1})]),
        "declarations": sorted([d["_id"] async for d in db["declarations"].find({}, {"_id": 1})]),
        "visits": sorted([d["_id"] async for d in db["visits"].find({}, {"_id": 1})]),
        "report_photos": {
            d["number"]: d["photos"]
            async for d in db["reports"].find({}, {"number": 1, "photos": 1})
        },
        "audit": sorted([d["seq"] async for d in db["audit"].find({}, {"seq": 1})]),
    }


def a_run(storage: Storage, clock: FixedClock, batch: int = 500) -> RetentionRun:
    """A retention run with the default periods."""
    return RetentionRun(storage.retention, RetentionRules(), clock, batch=batch)


async def test_a_dry_run_counts_and_a_run_deletes_exactly_what_is_past_its_period(
    storage: Storage, clock: FixedClock
) -> None:
    now = clock.now()
    await seed(storage, now)
    before = await left(storage)
    assert await pending(a_run(storage, clock)) == EXPECTED
    assert await left(storage) == before

    counts = await apply(a_run(storage, clock, batch=1), DAY)

    assert counts == EXPECTED
    assert await left(storage) == {
        "selfies": [
            "report-2-0",
            "selfie-3-0",
            "selfie-3-1",
            "selfie-4-0",
            "selfie-4-1",
        ],
        "declarations": ["d1-0", "d1-1", "d3-0", "d3-1", "d4-0", "d4-1"],
        "visits": ["v-canteen-10", "v-dormitory-10"],
        "report_photos": {1: [], 2: ["report-2-0"]},
        "audit": [4, 5],
    }
    for number, kept in ((1, False), (2, False), (3, True)):
        case = await storage.cases.get(f"c{number}")
        assert case is not None and (case.reference_selfie is not None) is kept
    verdict = await storage.audit.verify()
    assert verdict.intact, verdict.describe()
    assert await storage.photos.get("selfie-1-0") is None


async def test_the_deletion_log_holds_counts_only_and_a_second_run_deletes_nothing(
    storage: Storage, clock: FixedClock
) -> None:
    await seed(storage, clock.now())
    await apply(a_run(storage, clock), DAY)
    logged = [d async for d in storage.db["deletion_log"].find({})]
    assert {(d["day"], d["data"], d["count"]) for d in logged} == {
        (DAY.isoformat(), data.value, count) for data, count in EXPECTED.items()
    }
    assert all(set(d) == {"_id", "day", "data", "count"} for d in logged)
    after = await left(storage)

    assert await apply(a_run(storage, clock), DAY) == dict.fromkeys(DataClass, 0)
    assert await left(storage) == after
    assert await storage.retention.log(DAY) == {d.value: c for d, c in EXPECTED.items()}
    clock.advance(timedelta(days=1))
    assert await pending(a_run(storage, clock)) == dict.fromkeys(DataClass, 0)


async def test_the_audit_chain_goes_on_from_the_first_entry_kept(
    storage: Storage, clock: FixedClock
) -> None:
    await seed(storage, clock.now())
    await apply(a_run(storage, clock), DAY)
    entry = await storage.audit.append("telegram:2", "case.view", True, target="c1")
    assert entry.seq == 6
    verdict = await storage.audit.verify()
    assert verdict.intact and verdict.count == 6, verdict.describe()
    await storage.db["audit"].delete_one({"seq": 4})  # not retention: tampering
    assert not (await storage.audit.verify()).intact


async def test_a_trail_all_past_its_period_starts_again_verifiably(
    storage: Storage, clock: FixedClock
) -> None:
    old = AuditRepo(storage.db, FixedClock(clock.now() - timedelta(days=800)), KEY)
    for n in range(3):
        await old.append("telegram:1", "case.view", True, target=f"c{n}")
    assert (await apply(a_run(storage, clock), DAY))[DataClass.AUDIT] == 3
    entry = await storage.audit.append("telegram:2", "case.view", True, target="c1")
    assert entry.seq == 4
    verdict = await storage.audit.verify()
    assert verdict.intact and verdict.count == 4, verdict.describe()
    assert await pending(a_run(storage, clock)) == dict.fromkeys(DataClass, 0)


async def test_the_command_line_dry_run_prints_the_counts_and_the_run_deletes(
    mongo_uri: str, storage: Storage, tmp_path: Path
) -> None:
    await seed(storage, datetime.now(UTC))
    before = await left(storage)

    dry = await bot_cli(mongo_uri, storage, tmp_path, "retention", "--dry-run")

    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        f"{data.value}: would delete {count}" for data, count in EXPECTED.items()
    ]
    assert await left(storage) == before
    done = await bot_cli(mongo_uri, storage, tmp_path, "retention")
    assert done.returncode == 0, done.stderr
    assert "selfies: deleted 4" in done.stdout.splitlines()
    assert await storage.photos.get("selfie-2-0") is None


async def test_ending_a_case_forgets_its_face_descriptor(officer: User, storage: Storage) -> None:
    case = await a_case(storage, 1, chat_of(officer))
    assert await storage.cases.set_reference(case.id, FACE, "selfie-1-0")
    await officer.says("/end 1 chuyển viện")
    [ended] = await officer.choose("✅ Kết thúc ca")
    assert "số 1" in ended["text"]
    stored = await storage.cases.get(case.id)
    assert stored is not None and stored.status is CaseStatus.ENDED
    assert stored.reference_face is None
    assert not await storage.cases.set_reference(case.id, FACE, "selfie-1-1")


async def test_a_completed_case_forgets_its_face_descriptor(
    service: Service, storage: Storage, clock: FixedClock
) -> None:
    case = await a_case(storage, 1, ChatRef(platform=Platform.TELEGRAM, chat_id="-100"), end=DAY)
    assert await storage.cases.set_reference(case.id, FACE, "selfie-1-0")
    clock.set(at(19, 5))
    await service.tick()
    stored = await storage.cases.get(case.id)
    assert stored is not None and stored.status is CaseStatus.ENDED
    assert stored.reference_face is None and stored.end_reason == "completed"


def test_the_default_periods_are_the_documented_ones() -> None:
    rules, now = RetentionRules(), datetime(2026, 12, 1, tzinfo=UTC)
    assert now - rules.cutoff(DataClass.SELFIES, now) == timedelta(days=30)
    assert now - rules.cutoff(DataClass.AUDIT, now) == timedelta(days=730)
    assert rules.cutoff(DataClass.DECLARATIONS, now).date() == date(2026, 9, 2)
