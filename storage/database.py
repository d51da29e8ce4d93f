"""Connecting to MongoDB (a configured server or the embedded one) and the repositories."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pymongo import ASCENDING, AsyncMongoClient, IndexModel

from core.models import CaseStatus
from core.ports import Clock
from storage.alerts import AlertsRepo
from storage.attempts import AttemptsRepo
from storage.audit import AUDIT_INDEXES, PURPOSE_INDEXES, AuditRepo
from storage.cards import CardsRepo
from storage.cases import CasesRepo, InvitesRepo
from storage.checkpoints import CheckpointsRepo, OrganisationsRepo
from storage.conversations import ConversationsRepo
from storage.daily_checks import DailyChecksRepo
from storage.declarations import HASH_BAND_INDEX, DeclarationsRepo
from storage.documents import Database, Document
from storage.embedded import EmbeddedMongo, running_server
from storage.erasure import ErasureRepo
from storage.fanouts import FANOUTS_KEPT, FanoutRepo
from storage.inbox import InboxRepo
from storage.locks import LeaseRepo
from storage.media import MediaRepo
from storage.outbox import OutboxRepo
from storage.people import AccountsRepo, PeopleRepo
from storage.photos import PhotoRepo
from storage.report_figures import (
    CASE_FIGURES_INDEX,
    DECLARATION_FIGURES_INDEX,
    REPORT_DAY_INDEX,
    ReportFiguresRepo,
)
from storage.reports import REPORT_INDEXES, ReportsRepo
from storage.retention import RetentionRepo
from storage.staff import StaffRepo
from storage.staff_chats import StaffChatRepo
from storage.staff_invites import StaffInvitesRepo
from storage.subscribers import SubscribersRepo
from storage.uploads import UploadsRepo
from storage.visits import VISIT_INDEXES, VisitsRepo
from storage.workers import WorkersRepo

log = logging.getLogger(__name__)

UPDATE_KEYS_KEPT = timedelta(days=3)
MEDIA_KEPT = timedelta(days=1)
OUTBOX_SETTLED_KEPT = timedelta(days=30)

INDEXES: dict[str, list[IndexModel]] = {
    "people": [IndexModel("phone"), IndexModel("area"), IndexModel("erasure_requested_at")],
    "channel_accounts": [
        IndexModel([("platform", ASCENDING), ("user_id", ASCENDING)], unique=True),
        IndexModel("person_id"),
    ],
    "conversations": [
        IndexModel([("platform", ASCENDING), ("user_id", ASCENDING)], unique=True),
        IndexModel("expires_at", expireAfterSeconds=0),
    ],
    "inbox": [
        IndexModel("status"),
        # Processed updates keep only their key, to recognise a redelivery, for a few days.
        IndexModel("done_at", expireAfterSeconds=int(UPDATE_KEYS_KEPT.total_seconds())),
    ],
    "staff": [IndexModel([("platform", ASCENDING), ("user_id", ASCENDING)], unique=True)],
    "staff_chats": [
        IndexModel([("chat.platform", ASCENDING), ("chat.chat_id", ASCENDING)], unique=True)
    ],
    "audit": AUDIT_INDEXES,
    "audit_purposes": PURPOSE_INDEXES,
    "media": [IndexModel("at", expireAfterSeconds=int(MEDIA_KEPT.total_seconds()))],
    "attempts": [IndexModel("expires_at", expireAfterSeconds=0)],
    "selfies": [IndexModel("case_id")],
    "outbox": [
        IndexModel("key", unique=True),
        # Settled messages (sent, failed, blocked, skipped) are forgotten after a month.
        IndexModel("settled_at", expireAfterSeconds=int(OUTBOX_SETTLED_KEPT.total_seconds())),
        IndexModel([("platform", ASCENDING), ("priority", ASCENDING), ("seq", ASCENDING)]),
        IndexModel([("platform", ASCENDING), ("chat_id", ASCENDING)]),
    ],
    "cases": [
        IndexModel("number", unique=True),
        IndexModel([("person_id", ASCENDING), ("status", ASCENDING)]),
        # One active case per person.
        IndexModel(
            "person_id",
            name="one_active_case",
            unique=True,
            partialFilterExpression={"status": CaseStatus.ACTIVE.value},
        ),
        IndexModel([("staff_chat.platform", ASCENDING), ("staff_chat.chat_id", ASCENDING)]),
        IndexModel([("area", ASCENDING), ("status", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("end", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("ended_at", ASCENDING)]),  # retention's range
        IndexModel([("proxies", ASCENDING), ("status", ASCENDING)]),
        CASE_FIGURES_INDEX,
    ],
    "invites": [IndexModel("code", unique=True)],
    "staff_invites": [IndexModel("code", unique=True)],
    "orgs": [IndexModel("area")],
    "checkpoints": [IndexModel("code", unique=True), IndexModel("org_id"), IndexModel("area")],
    "fanouts": [IndexModel("at", expireAfterSeconds=int(FANOUTS_KEPT.total_seconds()))],
    "declarations": [
        IndexModel([("case_id", ASCENDING), ("slot_key", ASCENDING)], unique=True),
        IndexModel("slot_key"),
        IndexModel("receipt", unique=True),
        IndexModel([("case_id", ASCENDING), ("local_date", ASCENDING)]),
        IndexModel([("needs_review", ASCENDING), ("area", ASCENDING)]),
        IndexModel([("needs_ack", ASCENDING), ("area", ASCENDING)]),
        IndexModel("checks_pending"),
        HASH_BAND_INDEX,
        DECLARATION_FIGURES_INDEX,
    ],
    "visits": VISIT_INDEXES,
    "daily_checks": [IndexModel("person_id")],
    "reports": REPORT_INDEXES,
    "uploads": [IndexModel("at", expireAfterSeconds=int(timedelta(days=1).total_seconds()))],
    "workers": [IndexModel("org_id"), IndexModel("phone"), IndexModel("person_id")],
    "cards": [IndexModel("code", unique=True), IndexModel("person_id")],
    "alerts": [
        IndexModel("number", unique=True),
        IndexModel([("sender", ASCENDING), ("identifier", ASCENDING)], unique=True),
        IndexModel("state"),
        IndexModel("identifier"),  # /cap/alerts/<identifier>.xml
    ],
    "tallies": [IndexModel("alert")],
    "report_days": [REPORT_DAY_INDEX],
    "deletion_log": [IndexModel("day")],
    "subscribers": [
        IndexModel("areas"),
        IndexModel("person_id"),
        IndexModel([("platform", ASCENDING), ("chat_id", ASCENDING)]),
    ],
}


@dataclass(frozen=True)
class Storage:
    """Every repository over one database."""

    db: Database
    people: PeopleRepo
    accounts: AccountsRepo
    conversations: ConversationsRepo
    inbox: InboxRepo
    staff: StaffRepo
    staff_chats: StaffChatRepo
    audit: AuditRepo
    attempts: AttemptsRepo
    media: MediaRepo
    outbox: OutboxRepo
    leases: LeaseRepo
    photos: PhotoRepo
    cases: CasesRepo
    invites: InvitesRepo
    staff_invites: StaffInvitesRepo
    orgs: OrganisationsRepo
    checkpoints: CheckpointsRepo
    declarations: DeclarationsRepo
    fanouts: FanoutRepo
    erasure: ErasureRepo
    visits: VisitsRepo
    daily_checks: DailyChecksRepo
    reports: ReportsRepo
    uploads: UploadsRepo
    workers: WorkersRepo
    cards: CardsRepo
    alerts: AlertsRepo
    subscribers: SubscribersRepo
    figures: ReportFiguresRepo
    retention: RetentionRepo

    @classmethod
    def over(cls, db: Database, clock: Clock, audit_key: bytes) -> Storage:
        """Repositories for `db`, all reading time from `clock`; `audit_key` seals the audit
        trail (the service and the command line pass AUDIT_KEY)."""
        outbox = OutboxRepo(db, clock)
        photos = PhotoRepo(db)
        alerts = AlertsRepo(db)
        return cls(
            db=db,
            people=PeopleRepo(db),
            accounts=AccountsRepo(db),
            conversations=ConversationsRepo(db, clock),
            inbox=InboxRepo(db),
            staff=StaffRepo(db),
            staff_chats=StaffChatRepo(db),
            audit=AuditRepo(db, clock, audit_key),
            attempts=AttemptsRepo(db, clock),
            media=MediaRepo(db, clock),
            outbox=outbox,
            leases=LeaseRepo(db, clock),
            photos=photos,
            cases=CasesRepo(db),
            invites=InvitesRepo(db),
            staff_invites=StaffInvitesRepo(db),
            orgs=OrganisationsRepo(db),
            checkpoints=CheckpointsRepo(db),
            declarations=DeclarationsRepo(db, outbox),
            fanouts=FanoutRepo(db, clock),
            erasure=ErasureRepo(db, photos),
            visits=VisitsRepo(db),
            daily_checks=DailyChecksRepo(db),
            reports=ReportsRepo(db),
            uploads=UploadsRepo(db, clock),
            workers=WorkersRepo(db),
            cards=CardsRepo(db),
            alerts=alerts,
            subscribers=SubscribersRepo(db),
            figures=ReportFiguresRepo(db, alerts, outbox),
            retention=RetentionRepo(db),
        )

    async def ensure_indexes(self) -> None:
        """Create every index; safe to run at each start-up."""
        for name, indexes in INDEXES.items():
            await self.db[name].create_indexes(indexes)

    async def ping(self) -> bool:
        """True when the database answers."""
        try:
            await self.db.command("ping")
            return True
        except Exception:
            return False


@asynccontextmanager
async def open_database(
    uri: str | None, db_name: str, data_dir: Path, reuse_running: bool = False
) -> AsyncIterator[Database]:
    """Connect to `uri`, or run the embedded server on `data_dir/db` for the duration.

    With `reuse_running`, an embedded server another process (the bot) already runs on the
    same directory is used instead of starting a second one (the CLI does this).
    """
    embedded: EmbeddedMongo | None = None
    if uri is None and reuse_running:
        uri = await running_server(data_dir / "db")
    if uri is None:
        embedded = EmbeddedMongo(data_dir / "db")
        uri = await embedded.start()
    client: AsyncMongoClient[Document] = AsyncMongoClient(uri, tz_aware=True)
    try:
        yield client[db_name]
    finally:
        await client.close()
        if embedded:
            await embedded.stop()
