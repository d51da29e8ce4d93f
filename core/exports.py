"""Exports other systems import: cases, contacts (F1/F2 with the exposure) and follow-ups, as
CSV, XLSX or JSON, in our own columns or mapped to WHO Go.Data or a DHIS2 tracker program.

`MAPPINGS` is the one table of what each of our fields becomes: the exporter writes it and
docs/exports.md prints it (a test checks the two agree).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from enum import StrEnum

from core.areas import AreaCatalog
from core.models import Case, CaseStatus, Declaration, Person
from core.ports import Cases, Checkpoints, Declarations, Organisations, People, Visits
from core.spreadsheets import xlsx_bytes
from core.trace_report import Named, names_for
from core.tracing import Contact, Trace, TraceRules, trace

Value = str | int | float | bool | None
Row = dict[str, Value]


class ExportKind(StrEnum):
    """What is exported."""

    CASES = "cases"
    CONTACTS = "contacts"
    FOLLOWUPS = "followups"


class ExportFormat(StrEnum):
    """The file's format."""

    CSV = "csv"
    XLSX = "xlsx"
    JSON = "json"


class Target(StrEnum):
    """Whose columns the file has: ours, Go.Data's import or a DHIS2 tracker program's."""

    OURS = "khaibao"
    GODATA = "godata"
    DHIS2 = "dhis2"


class Place(StrEnum):
    """Where a DHIS2 column goes in the /api/tracker JSON."""

    FIELD = "field"  # a property of the tracked entity, enrollment or event
    ATTRIBUTE = "attribute"  # a tracked entity attribute, by code
    DATA_VALUE = "dataValue"  # an event's data element, by code


@dataclass(frozen=True)
class Column:
    """One column: our field `source` (or the fixed `value`) written as `target`, with our
    values translated by `values`; `note` says what the importing system must set up."""

    target: str
    source: str = ""
    value: str = ""
    values: Mapping[str, str] = field(default_factory=dict)
    note: str = ""
    place: Place = Place.FIELD

    def render(self, row: Row) -> Value:
        """This column's value for a row."""
        if not self.source:
            return self.value
        found = row.get(self.source)
        if isinstance(found, bool):
            found = "true" if found else "false"
        if self.values and found is not None:
            return self.values.get(str(found), "")
        return found


# Our fields, with what they hold: the columns of an export in our own terms.
FIELDS: dict[ExportKind, tuple[tuple[str, str], ...]] = {
    ExportKind.CASES: (
        ("case_id", "the case's id (stable: contacts and follow-ups name it)"),
        ("case_code", "the case number as staff quote it (KB-12)"),
        ("person_id", "the person's id (stable across their cases)"),
        ("full_name", "the name as registered"),
        ("first_name", "the given name: the last word of the name"),
        ("last_name", "the family and middle names: the words before it"),
        ("phone", "the phone number, +84…"),
        ("area", "the commune's code (core/data areas)"),
        ("area_name", "the commune's name"),
        ("address", "the address given at enrolment"),
        ("reported_on", "the day the case was enrolled"),
        ("start", "the first day of home quarantine"),
        ("end", "the last day (after any extension)"),
        ("status", "active or ended"),
        ("end_reason", "why it ended: completed, or what staff wrote"),
        ("classification", "confirmed (a positive test recorded) or suspect"),
        ("onset", "the day of the first declaration with a symptom, if any"),
        ("last_test", "the latest test: kind and result"),
        ("last_test_on", "the day of the latest test"),
    ),
    ExportKind.CONTACTS: (
        ("contact_id", "the contact's person id"),
        ("degree", "F1 (met the case) or F2 (met an F1)"),
        ("case_id", "the case traced"),
        ("case_code", "its number (KB-12)"),
        ("source_id", "whom they met: the case (F1) or an F1's person id (F2)"),
        ("full_name", "the contact's registered name"),
        ("first_name", "the given name"),
        ("last_name", "the family and middle names"),
        ("phone", "the phone number"),
        ("area", "the contact's commune code"),
        ("places", "the checkpoints shared, «; » between them"),
        ("exposure_start", "when the first shared stay began (local time, ISO 8601)"),
        ("exposure_end", "when the last shared stay ended"),
        ("overlap_minutes", "the minutes spent together, all places summed"),
        ("last_contact", "the day of the last shared stay"),
        ("exposure", "the exposure in words: places, times, minutes"),
        ("traced_on", "the day of the export (the trace's day)"),
    ),
    ExportKind.FOLLOWUPS: (
        ("declaration_id", "the declaration's id"),
        ("case_id", "its case"),
        ("case_code", "its case number (KB-12)"),
        ("person_id", "the case's person id"),
        ("area", "the case's commune code"),
        ("day", "the local day declared for"),
        ("slot", "the window (08:00, 13:00, 19:00), empty when unprompted"),
        ("submitted_at", "when it came (local time, ISO 8601)"),
        ("temperature", "°C, when measured"),
        ("fever", "true or false"),
        ("cough", "true or false"),
        ("breath", "shortness of breath: true or false"),
        ("throat", "sore throat: true or false"),
        ("taste_smell", "lost taste or smell: true or false"),
        ("fatigue", "true or false"),
        ("other", "other symptoms, as typed"),
        ("symptomatic", "any symptom, or 38 °C or more"),
        ("flags", "selfie and place checks for staff («; » between them)"),
        ("at_home", "true, false, or empty when no position was shared"),
    ),
}

LOCATION = "import your communes as Go.Data locations whose identifier is our commune code"
CLASSIFICATIONS = {
    "confirmed": "LNG_REFERENCE_DATA_CATEGORY_CASE_CLASSIFICATION_CONFIRMED",
    "suspect": "LNG_REFERENCE_DATA_CATEGORY_CASE_CLASSIFICATION_SUSPECT",
}
FOLLOW_UP_STATUS = {
    "false": "LNG_REFERENCE_DATA_CONTACT_DAILY_FOLLOW_UP_STATUS_TYPE_SEEN_OK",
    "true": "LNG_REFERENCE_DATA_CONTACT_DAILY_FOLLOW_UP_STATUS_TYPE_SEEN_NOT_OK",
}
RESIDENCE = "LNG_REFERENCE_DATA_CATEGORY_ADDRESS_TYPE_USUAL_PLACE_OF_RESIDENCE"
ISOLATION = "LNG_REFERENCE_DATA_CATEGORY_PERSON_DATE_TYPE_ISOLATION"
DHIS2_PROGRAM = "KB_HOME_QUARANTINE"  # codes: import with idScheme=CODE (docs/exports.md)
DHIS2_CONTACT_PROGRAM = "KB_CONTACT_TRACING"
DHIS2_ENTITY_TYPE = "KB_PERSON"
DHIS2_DECLARATION_STAGE = "KB_DAILY_DECLARATION"
DHIS2_EXPOSURE_STAGE = "KB_EXPOSURE"
DHIS2_RELATIONSHIP = "KB_CONTACT_OF"
ENROLLMENT_STATUS = {"active": "ACTIVE", "ended": "COMPLETED"}
POSITIVE = frozenset({"duong", "dương", "positive"})  # results as /test stores them


def _ours(kind: ExportKind) -> tuple[Column, ...]:
    return tuple(Column(name, name, note=meaning) for name, meaning in FIELDS[kind])


def _address(area_source: str = "area") -> tuple[Column, ...]:
    return (
        Column("addresses[1][typeId]", value=RESIDENCE, note="usual place of residence"),
        Column("addresses[1][locationId]", area_source, note=LOCATION),
        Column("addresses[1][phoneNumber]", "phone"),
    )


def _attribute(code: str, source: str, note: str = "") -> Column:
    return Column(code, source, note=note, place=Place.ATTRIBUTE)


def _data(code: str, source: str, note: str = "") -> Column:
    return Column(code, source, note=note, place=Place.DATA_VALUE)


PERSON_ATTRIBUTES = (
    _attribute("KB_FIRST_NAME", "first_name", "tracked entity attribute, text"),
    _attribute("KB_LAST_NAME", "last_name", "tracked entity attribute, text"),
    _attribute("KB_PHONE", "phone", "tracked entity attribute, phone number"),
)
SYMPTOMS = ("fever", "cough", "breath", "throat", "taste_smell", "fatigue")

MAPPINGS: dict[tuple[ExportKind, Target], tuple[Column, ...]] = {
    **{(kind, Target.OURS): _ours(kind) for kind in ExportKind},
    (ExportKind.CASES, Target.GODATA): (
        Column("id", "case_id", note="keep it: contacts name their case by this id"),
        Column("visualId", "case_code"),
        Column("firstName", "first_name"),
        Column("lastName", "last_name"),
        Column("classification", "classification", values=CLASSIFICATIONS),
        Column("dateOfReporting", "reported_on"),
        Column("dateOfOnset", "onset", note="empty when no symptom was declared"),
        Column(
            "outcomeId",
            value="LNG_REFERENCE_DATA_CATEGORY_OUTCOME_ALIVE",
            note="the bot records no outcome beyond the quarantine: update it in Go.Data",
        ),
        *_address(),
        Column("addresses[1][addressLine1]", "address"),
        Column("dateRanges[1][typeId]", value=ISOLATION, note="the home quarantine"),
        Column("dateRanges[1][startDate]", "start"),
        Column("dateRanges[1][endDate]", "end"),
    ),
    (ExportKind.CONTACTS, Target.GODATA): (
        Column("id", "contact_id", note="one person met by two cases is one contact"),
        Column("firstName", "first_name"),
        Column("lastName", "last_name"),
        *_address(),
        Column("dateOfReporting", "traced_on"),
        Column("dateOfLastContact", "last_contact"),
        Column(
            "relationship[persons][0][id]",
            "source_id",
            note="F1: the case (import cases first); F2: the F1 (contacts of contacts import)",
        ),
        Column("relationship[contactDate]", "last_contact"),
        Column(
            "relationship[exposureTypeId]",
            value="same_place",
            note="map «same_place» to your exposure type (scanned the same QR checkpoint)",
        ),
        Column("relationship[comment]", "exposure"),
    ),
    (ExportKind.FOLLOWUPS, Target.GODATA): (
        Column("personId", "case_id", note="Go.Data follows contacts: the case imported as one"),
        Column("date", "day"),
        Column("statusId", "symptomatic", values=FOLLOW_UP_STATUS),
        Column("address[locationId]", "area", note=LOCATION),
    ),
    (ExportKind.CASES, Target.DHIS2): (
        Column("orgUnit", "area", note="organisation units whose code is our commune code"),
        Column("enrolledAt", "start"),
        Column("occurredAt", "reported_on"),
        Column("status", "status", values=ENROLLMENT_STATUS),
        _attribute("KB_CASE_CODE", "case_code", "tracked entity attribute, unique text"),
        *PERSON_ATTRIBUTES,
        _attribute("KB_ADDRESS", "address", "tracked entity attribute, text"),
        _attribute("KB_QUARANTINE_END", "end", "tracked entity attribute, date"),
        _attribute("KB_CLASSIFICATION", "classification", "option set: confirmed, suspect"),
        _attribute("KB_ONSET", "onset", "tracked entity attribute, date"),
    ),
    (ExportKind.CONTACTS, Target.DHIS2): (
        Column("orgUnit", "area", note="organisation units whose code is our commune code"),
        Column("enrolledAt", "traced_on"),
        Column("occurredAt", "last_contact"),
        *PERSON_ATTRIBUTES,
        _data("KB_DEGREE", "degree", "data element, option set: F1, F2"),
        _data("KB_EXPOSURE_PLACE", "places", "data element, text"),
        _data("KB_EXPOSURE_START", "exposure_start", "data element, date and time"),
        _data("KB_EXPOSURE_END", "exposure_end", "data element, date and time"),
        _data("KB_OVERLAP_MINUTES", "overlap_minutes", "data element, number"),
    ),
    (ExportKind.FOLLOWUPS, Target.DHIS2): (
        Column("orgUnit", "area", note="organisation units whose code is our commune code"),
        Column("occurredAt", "submitted_at"),
        _data("KB_SLOT", "slot", "data element, text"),
        _data("KB_TEMPERATURE", "temperature", "data element, number"),
        *(_data(f"KB_{s.upper()}", s, "data element, boolean") for s in SYMPTOMS),
        _data("KB_OTHER_SYMPTOMS", "other", "data element, text"),
        _data("KB_FLAGS", "flags", "data element, text"),
        _data("KB_AT_HOME", "at_home", "data element, boolean"),
    ),
}


def header(kind: ExportKind, target: Target) -> list[str]:
    """The columns of a CSV or XLSX export."""
    return [column.target for column in MAPPINGS[kind, target]]


def mapping_table(kind: ExportKind, target: Target) -> str:
    """The mapping as the Markdown table docs/exports.md shows."""
    if target is Target.OURS:
        rows = (f"| `{name}` | {meaning} |" for name, meaning in FIELDS[kind])
        return "\n".join(["| column | what it holds |", "|---|---|", *rows])
    lines = ["| column | our field | notes |", "|---|---|---|"]
    for column in MAPPINGS[kind, target]:
        source = f"`{column.source}`" if column.source else f"always `{column.value}`"
        values = ", ".join(f"{ours} → `{theirs}`" for ours, theirs in column.values.items())
        notes = "; ".join(part for part in (column.note, values) if part)
        lines.append(f"| `{column.target}` | {source} | {notes} |")
    return "\n".join(lines)


def export(kind: ExportKind, form: ExportFormat, target: Target, rows: Sequence[Row]) -> bytes:
    """The file: CSV (UTF-8 with BOM, for Excel), XLSX, or JSON (DHIS2: /api/tracker)."""
    columns = MAPPINGS[kind, target]
    if form is ExportFormat.JSON:
        body: object = (
            tracker_payload(kind, rows)
            if target is Target.DHIS2
            else [{c.target: c.render(row) for c in columns} for row in rows]
        )
        return json.dumps(body, ensure_ascii=False, indent=1).encode()
    table = [[column.render(row) for column in columns] for row in rows]
    if form is ExportFormat.XLSX:
        return xlsx_bytes([(kind.value, header(kind, target), table)])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header(kind, target))
    writer.writerows(["" if value is None else value for value in line] for line in table)
    return ("\ufeff" + out.getvalue()).encode()


def filename(kind: ExportKind, form: ExportFormat, target: Target, day: date) -> str:
    """ "khaibao-cases-godata-20261127.csv"."""
    return f"khaibao-{kind.value}-{target.value}-{day:%Y%m%d}.{form.value}"


def dhis2_uid(kind: str, key: str) -> str:
    """A DHIS2 UID (a letter and 10 letters or digits) made from our id: exporting again
    gives the same UIDs, so a second import updates instead of duplicating."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    number = int.from_bytes(hashlib.sha256(f"{kind}:{key}".encode()).digest()[:12])
    digits = []
    for _ in range(10):
        number, digit = divmod(number, len(alphabet))
        digits.append(alphabet[digit])
    return alphabet[10 + number % 52] + "".join(digits)


def tracker_payload(kind: ExportKind, rows: Iterable[Row]) -> dict[str, list[object]]:
    """The DHIS2 /api/tracker import body (posted with idScheme=CODE)."""
    columns = MAPPINGS[kind, Target.DHIS2]
    payload: dict[str, list[object]] = {"trackedEntities": [], "events": [], "relationships": []}
    for row in rows:
        fields = {c.target: c.render(row) for c in columns if c.place is Place.FIELD}
        attributes = _values(columns, row, Place.ATTRIBUTE, "attribute")
        data_values = _values(columns, row, Place.DATA_VALUE, "dataElement")
        if kind is ExportKind.FOLLOWUPS:
            payload["events"].append(
                {
                    "event": dhis2_uid("event", str(row["declaration_id"])),
                    "program": DHIS2_PROGRAM,
                    "programStage": DHIS2_DECLARATION_STAGE,
                    "enrollment": dhis2_uid("enrollment", str(row["case_id"])),
                    "status": "COMPLETED",
                    **fields,
                    "dataValues": data_values,
                }
            )
            continue
        payload["trackedEntities"].append(_entity(kind, row, fields, attributes, data_values))
        if kind is ExportKind.CONTACTS:
            payload["relationships"].append(_relationship(row))
    return {name: items for name, items in payload.items() if items}


def _values(columns: Sequence[Column], row: Row, place: Place, key: str) -> list[object]:
    found = ((c.target, c.render(row)) for c in columns if c.place is place)
    return [{key: code, "value": str(value)} for code, value in found if value not in (None, "")]


def _entity(
    kind: ExportKind,
    row: Row,
    fields: dict[str, Value],
    attributes: list[object],
    data_values: list[object],
) -> dict[str, object]:
    """A person with their enrollment: in home quarantine (a case) or traced (a contact,
    with the exposure as an event)."""
    person = str(row["person_id"] if kind is ExportKind.CASES else row["contact_id"])
    enrollment_key = str(row["case_id"]) + ("" if kind is ExportKind.CASES else f"/{person}")
    enrollment: dict[str, object] = {
        "enrollment": dhis2_uid("enrollment", enrollment_key),
        "program": DHIS2_PROGRAM if kind is ExportKind.CASES else DHIS2_CONTACT_PROGRAM,
        "orgUnit": fields["orgUnit"],
        "enrolledAt": fields["enrolledAt"],
        "occurredAt": fields["occurredAt"],
        "status": fields.get("status", "ACTIVE"),
    }
    if kind is ExportKind.CONTACTS:
        enrollment["events"] = [
            {
                "event": dhis2_uid("event", enrollment_key),
                "programStage": DHIS2_EXPOSURE_STAGE,
                "orgUnit": fields["orgUnit"],
                "occurredAt": fields["occurredAt"],
                "status": "COMPLETED",
                "dataValues": data_values,
            }
        ]
    return {
        "trackedEntity": dhis2_uid("person", person),
        "trackedEntityType": DHIS2_ENTITY_TYPE,
        "orgUnit": fields["orgUnit"],
        "attributes": attributes,
        "enrollments": [enrollment],
    }


def _relationship(row: Row) -> dict[str, object]:
    """The contact → whom they met (the case's person, or the F1)."""
    source = str(row["source_person_id"])
    return {
        "relationship": dhis2_uid("relationship", f"{row['contact_id']}/{source}"),
        "relationshipType": DHIS2_RELATIONSHIP,
        "from": {"trackedEntity": dhis2_uid("person", str(row["contact_id"]))},
        "to": {"trackedEntity": dhis2_uid("person", source)},
    }


def split_name(name: str) -> tuple[str, str]:
    """(given name, family and middle names): "Lê Thị Lan" → ("Lan", "Lê Thị")."""
    words = name.split()
    return (words[-1], " ".join(words[:-1])) if words else ("", "")


def _person(person: Person | None) -> Row:
    name = person.name if person else ""
    first, last = split_name(name)
    return {
        "full_name": name,
        "first_name": first,
        "last_name": last,
        "phone": person.phone if person else "",
    }


def case_code(case: Case) -> str:
    """ "KB-12"."""
    return f"KB-{case.number}"


def case_row(case: Case, person: Person | None, area_name: str, onset: date | None) -> Row:
    """A case as our fields."""
    tests = sorted(case.tests, key=lambda test: test.on)
    last = tests[-1] if tests else None
    positive = any(test.result.casefold() in POSITIVE for test in tests)
    return {
        "case_id": case.id,
        "case_code": case_code(case),
        "person_id": case.person_id,
        **_person(person),
        "area": case.area,
        "area_name": area_name,
        "address": person.address if person else "",
        "reported_on": case.created_at.date().isoformat(),
        "start": case.start.isoformat(),
        "end": case.end.isoformat(),
        "status": case.status.value,
        "end_reason": case.end_reason,
        "classification": "confirmed" if positive else "suspect",
        "onset": onset.isoformat() if onset else "",
        "last_test": f"{last.kind} {last.result}" if last else "",
        "last_test_on": last.on.isoformat() if last else "",
    }


def onset(declarations: Iterable[Declaration]) -> date | None:
    """The day of the first declaration with a symptom."""
    return min((d.local_date for d in declarations if d.answers.symptomatic), default=None)


def followup_row(case: Case, declaration: Declaration, tz: tzinfo) -> Row:
    """A declaration as our fields."""
    answers, location = declaration.answers, declaration.location
    return {
        "declaration_id": declaration.id,
        "case_id": case.id,
        "case_code": case_code(case),
        "person_id": case.person_id,
        "area": case.area,
        "day": declaration.local_date.isoformat(),
        "slot": declaration.slot or "",
        "submitted_at": _local(declaration.submitted_at, tz),
        "temperature": answers.temperature,
        **{symptom: bool(getattr(answers, symptom)) for symptom in SYMPTOMS},
        "other": answers.other,
        "symptomatic": answers.symptomatic,
        "flags": "; ".join(declaration.flags),
        "at_home": location.at_home if location else None,
    }


def contact_rows(case: Case, result: Trace, named: Named, tz: tzinfo, today: date) -> list[Row]:
    """The F1s and F2s of a case's trace, each with the exposure."""
    return [
        _contact_row(case, contact, degree, named, tz, today)
        for degree, contacts in (("F1", result.f1), ("F2", result.f2))
        for contact in contacts
    ]


def _contact_row(
    case: Case, contact: Contact, degree: str, named: Named, tz: tzinfo, today: date
) -> Row:
    shared = sorted(contact.shared, key=lambda item: item.start)
    places = list(dict.fromkeys(named.places.get(s.checkpoint_id, "") for s in shared))
    minutes = round(contact.minutes)
    start, end = _local(shared[0].start, tz), _local(shared[-1].end, tz)
    source = case.person_id if degree == "F1" else min(contact.via)
    person = named.people.get(contact.person_id)
    return {
        "contact_id": contact.person_id,
        "degree": degree,
        "case_id": case.id,
        "case_code": case_code(case),
        "source_id": case.id if degree == "F1" else source,
        "source_person_id": source,
        **_person(person),
        "area": person.area if person else "",
        "places": "; ".join(places),
        "exposure_start": start,
        "exposure_end": end,
        "overlap_minutes": minutes,
        "last_contact": shared[-1].end.astimezone(tz).date().isoformat(),
        "exposure": f"{degree}: {'; '.join(places)}, {start} – {end}, {minutes} min",
        "traced_on": today.isoformat(),
    }


TRACE_DAYS = 14  # contacts: each active case traced over this many days, F1 and F2


@dataclass(frozen=True)
class Sources:
    """Where an export reads from."""

    cases: Cases
    declarations: Declarations
    people: People
    visits: Visits
    checkpoints: Checkpoints
    orgs: Organisations
    areas: AreaCatalog
    tz: tzinfo
    rules: TraceRules


async def export_rows(
    sources: Sources, kind: ExportKind, areas: Sequence[str], now: datetime
) -> list[Row]:
    """The rows of an export of these communes, their cases read a batch at a time."""
    rows: list[Row] = []
    for area in areas:
        async for cases in sources.cases.of_area(area):
            if kind is ExportKind.CASES:
                rows += await _case_rows(sources, cases)
            elif kind is ExportKind.FOLLOWUPS:
                for case in cases:
                    found = await sources.declarations.of_case(case.id)
                    rows += [followup_row(case, d, sources.tz) for d in found]
            else:
                active = [case for case in cases if case.status is CaseStatus.ACTIVE]
                rows += await _traced_rows(sources, active, now)
    return rows


async def _case_rows(sources: Sources, cases: Sequence[Case]) -> list[Row]:
    people = await sources.people.many(case.person_id for case in cases)
    rows = []
    for case in cases:
        declared = await sources.declarations.of_case(case.id)
        name = sources.areas.name(case.area)
        rows.append(case_row(case, people.get(case.person_id), name, onset(declared)))
    return rows


async def _traced_rows(sources: Sources, cases: Sequence[Case], now: datetime) -> list[Row]:
    """Each active case traced, F1 and F2, with the exposure."""
    rows: list[Row] = []
    today = now.astimezone(sources.tz).date()
    for case in cases:
        result = await trace(
            sources.visits, sources.checkpoints, case.person_id, TRACE_DAYS, now, sources.rules, 2
        )
        named = await names_for(result, sources.people, sources.checkpoints, sources.orgs)
        rows += contact_rows(case, result, named, sources.tz, today)
    return rows


def _local(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).isoformat(timespec="minutes")
