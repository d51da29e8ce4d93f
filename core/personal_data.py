"""A person's own data: whether their consent stands, and everything we hold about them as
tables for their export (a JSON file and a readable workbook).

The export holds the person's own records only. What staff typed about themselves (officer
ids, staff chats, who acknowledged a page) and what a helper («người khai hộ») is are left out:
a helper's declarations for someone else are that person's data, and the person's
declarations made by a helper say only that a helper made them. Selfies are not copied into
the export (it says which declarations have one), and the face descriptors we compute from
them are never given out: they are only numbers for the comparison.
"""

from __future__ import annotations

import json
from datetime import date, datetime, tzinfo

from pydantic import BaseModel, Field

from core.areas import AreaCatalog
from core.dates import format_date, format_moment
from core.models import (
    Account,
    Card,
    Case,
    DailyCheck,
    Declaration,
    FieldReport,
    LabTest,
    Person,
    Subscriber,
    Vaccination,
    Visit,
    Worker,
)
from core.texts import t

Row = dict[str, object]
# Columns holding a code (the same in every language in the JSON file), named in the workbook.
CODED = {
    "case_status": "case.status_",
    "report_status": "reports.status_",
    "category": "reports.category_",
}


def withdrawn(person: Person | None) -> bool:
    """Whether the person withdrew their consent and has not agreed again.

    This is the one rule of consent: whoever withdrew gets no alerts, no other messages, and
    cannot scan or report, except what the law requires while a quarantine case they declare
    for is active (its reminders, and declaring). Registered people always consented once;
    someone who never registered has withdrawn nothing.
    """
    return person is not None and person.consent is not None and not person.consent.given


class PersonalRecords(BaseModel):
    """Everything stored about one person, as read for their export."""

    person: Person
    accounts: list[Account] = Field(default_factory=list)
    cases: list[Case] = Field(default_factory=list)
    declarations: list[Declaration] = Field(default_factory=list)
    visits: list[Visit] = Field(default_factory=list)
    daily_checks: list[DailyCheck] = Field(default_factory=list)
    workers: list[Worker] = Field(default_factory=list)
    cards: list[Card] = Field(default_factory=list)
    reports: list[FieldReport] = Field(default_factory=list)
    subscriptions: list[Subscriber] = Field(default_factory=list)
    names: dict[str, str] = Field(default_factory=dict)  # checkpoint or organisation → name
    helps_with: int = 0  # how many cases they declare for as a helper (no details: not theirs)


def tables(records: PersonalRecords, areas: AreaCatalog) -> dict[str, list[Row]]:
    """The records as named tables of rows, the same for the JSON file and the workbook."""
    numbers = {case.id: case.number for case in records.cases}
    return {
        "profile": [_profile(records, areas)],
        "accounts": [_account(a) for a in records.accounts],
        "cases": [_case(c, areas) for c in records.cases],
        "tests": [
            *(_test(None, test) for test in _tests(records)),
            *(_test(case.number, test) for case in records.cases for test in case.tests),
        ],
        "vaccinations": [
            {"dose": v.dose, "on": v.on, "vaccine": v.vaccine} for v in _vaccinations(records)
        ],
        "declarations": [_declaration(d, numbers) for d in records.declarations],
        "visits": [_visit(v, records.names) for v in records.visits],
        "daily_checks": [
            {"day": d.day, "symptoms": d.symptoms, "contact": d.contact, "travel": d.travel}
            for d in records.daily_checks
        ],
        "worker_lists": [_worker(w, records.names) for w in records.workers],
        "reports": [_report(r, areas) for r in records.reports],
        "subscriptions": [_subscription(s, areas) for s in records.subscriptions],
        "cards": [{"code": c.code, "created_at": c.created_at} for c in records.cards],
    }


def _tests(records: PersonalRecords) -> list[LabTest]:
    """The person's own tests and those from worker lists linked to them."""
    return [*records.person.tests, *(x for w in records.workers for x in w.tests)]


def _test(case: int | None, test: LabTest) -> Row:
    return {"case": case, "kind": test.kind, "on": test.on, "result": test.result}


def _vaccinations(records: PersonalRecords) -> list[Vaccination]:
    return [*records.person.vaccinations, *(v for w in records.workers for v in w.vaccinations)]


def _profile(records: PersonalRecords, areas: AreaCatalog) -> Row:
    person, consent = records.person, records.person.consent
    return {
        "name": person.name,
        "phone": person.phone,
        "area": areas.name(person.area),
        "address": person.address,
        "residence": person.residence,
        "registered_at": person.created_at,
        "consent_version": consent.version if consent else None,
        "consent_at": consent.at if consent else None,
        "consent_withdrawn_at": consent.withdrawn_at if consent else None,
        "helps_declare_for": records.helps_with,
    }


def _account(account: Account) -> Row:
    return {
        "platform": account.platform.value,
        "user_id": account.user_id,
        "language": account.language,
        "created_at": account.created_at,
    }


def _case(case: Case, areas: AreaCatalog) -> Row:
    home = case.home
    return {
        "case": case.number,
        "area": areas.name(case.area),
        "start": case.start,
        "end": case.end,
        "case_status": case.status.value,
        "end_reason": case.end_reason,
        "ended_at": case.ended_at,
        "home_lat": home.lat if home else None,
        "home_lon": home.lon if home else None,
        "photo": case.reference_selfie is not None,
    }


def _declaration(declaration: Declaration, numbers: dict[str, int]) -> Row:
    answers, where = declaration.answers, declaration.location
    return {
        "case": numbers.get(declaration.case_id),
        "date": declaration.local_date,
        "slot": declaration.slot or "",
        "submitted_at": declaration.submitted_at,
        "receipt": declaration.receipt,
        "temperature": answers.temperature,
        "fever": answers.fever,
        "cough": answers.cough,
        "breath": answers.breath,
        "throat": answers.throat,
        "taste_smell": answers.taste_smell,
        "fatigue": answers.fatigue,
        "other": answers.other,
        "photo": declaration.selfie_id is not None,
        "by_helper": bool(declaration.declared_by),
        "lat": where.lat if where else None,
        "lon": where.lon if where else None,
    }


def _visit(visit: Visit, names: dict[str, str]) -> Row:
    return {
        "place": names.get(visit.checkpoint_id, ""),
        "in_at": visit.in_at,
        "out_at": visit.out_at,
    }


def _worker(worker: Worker, names: dict[str, str]) -> Row:
    return {
        "organisation": names.get(worker.org_id, ""),
        "name": worker.name,
        "phone": worker.phone,
        "residence": worker.residence,
        "added_at": worker.added_at,
    }


def _report(report: FieldReport, areas: AreaCatalog) -> Row:
    replies = [note.text for note in report.notes]
    return {
        "report": report.number,
        "created_at": report.created_at,
        "area": areas.name(report.area),
        "category": report.category.value,
        "text": report.text,
        "photos": len(report.photos),
        "anonymous": report.anonymous,
        "report_status": report.status.value,
        "thread": "\n".join(replies),
    }


def _subscription(subscriber: Subscriber, areas: AreaCatalog) -> Row:
    return {
        "platform": subscriber.platform.value,
        "areas": ", ".join(areas.name(code) for code in subscriber.areas),
        "muted": subscriber.muted,
        "created_at": subscriber.created_at,
    }


def export_json(named: dict[str, list[Row]], lang: str, tz: tzinfo, at: datetime) -> bytes:
    """The tables as a JSON file, times in local ISO 8601, led by what it holds."""
    about = {
        "generated_at": at.astimezone(tz).isoformat(),
        "contents": t(lang, "mydata.about"),
        "photos": t(lang, "mydata.about_photos"),
    }
    document = {
        "about": about,
        **{kind: [_json_row(row, tz) for row in rows] for kind, rows in named.items()},
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode()


def _json_row(row: Row, tz: tzinfo) -> Row:
    return {key: _json_value(value, tz) for key, value in row.items()}


def _json_value(value: object, tz: tzinfo) -> object:
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def export_sheets(
    named: dict[str, list[Row]], lang: str, tz: tzinfo
) -> list[tuple[str, list[str], list[list[object]]]]:
    """The tables that have rows as sheets (title, header, rows), in `lang`."""
    sheets = []
    for kind, rows in named.items():
        if not rows:
            continue
        columns = list(rows[0])
        header = [t(lang, f"mydata.col_{column}") for column in columns]
        cells = [[_cell(column, row[column], lang, tz) for column in columns] for row in rows]
        sheets.append((t(lang, f"mydata.sheet_{kind}"), header, cells))
    return sheets


def _cell(column: str, value: object, lang: str, tz: tzinfo) -> object:
    if column in CODED:
        return t(lang, f"{CODED[column]}{value}")
    if isinstance(value, bool):
        return t(lang, f"mydata.{'yes' if value else 'no'}")
    if isinstance(value, datetime):
        return format_moment(value, tz)
    if isinstance(value, date):
        return format_date(value)
    return "" if value is None else value
