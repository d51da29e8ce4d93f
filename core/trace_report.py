"""A trace as staff read it: a short summary for the chat and an XLSX with every row.

The chat command and the CLI both print traces through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import tzinfo

from core.areas import AreaCatalog
from core.dates import format_moment
from core.models import Person, Visit
from core.phone import display_phone
from core.ports import Checkpoints, Organisations, People
from core.spreadsheets import xlsx_bytes
from core.texts import t
from core.tracing import Contact, Trace

SUMMARY_CONTACTS = 10  # the chat lists the closest contacts; the workbook has them all
CONTACT_COLUMNS = ("number", "name", "phone", "area", "minutes", "shared")


@dataclass(frozen=True)
class Named:
    """Who and where the ids of a trace are."""

    people: dict[str, Person]
    places: dict[str, str]  # checkpoint id → "Nhà ăn ca 1 — Công ty …"


async def names_for(
    result: Trace, people: People, checkpoints: Checkpoints, orgs: Organisations
) -> Named:
    """Look up the people and places a trace names (one read each)."""
    ids = {result.person_id} | {c.person_id for c in (*result.f1, *result.f2)}
    places: dict[str, str] = {}
    for checkpoint_id in _checkpoint_ids(result):
        checkpoint = await checkpoints.get(checkpoint_id)
        org = await orgs.get(checkpoint.org_id) if checkpoint else None
        name = checkpoint.name if checkpoint else checkpoint_id
        places[checkpoint_id] = f"{name} — {org.name}" if org else name
    return Named(await people.many(ids), places)


def _checkpoint_ids(result: Trace) -> set[str]:
    shared = (item.checkpoint_id for c in (*result.f1, *result.f2) for item in c.shared)
    return {visit.checkpoint_id for visit in result.visits} | set(shared)


@dataclass(frozen=True)
class TraceReport:
    """How a trace is written: language, time zone, communes."""

    lang: str
    tz: tzinfo
    areas: AreaCatalog

    def summary(self, result: Trace, named: Named, days: int) -> str:
        """The chat message: the traced person, their scans, the closest F1s, the F2 count."""
        lang, person = self.lang, named.people.get(result.person_id)
        lines = [
            t(
                lang,
                "trace.title",
                name=person.name if person else "?",
                days=days,
                visits=len(result.visits),
                places=len({visit.checkpoint_id for visit in result.visits}),
            )
        ]
        if not result.f1:
            lines.append(t(lang, "trace.no_contacts"))
        else:
            lines.append(t(lang, "trace.f1_title", count=len(result.f1)))
            for number, contact in enumerate(result.f1[:SUMMARY_CONTACTS], 1):
                lines.append(self._line(number, contact, named))
            if len(result.f1) > SUMMARY_CONTACTS:
                lines.append(t(lang, "trace.more", count=len(result.f1) - SUMMARY_CONTACTS))
        if result.f2:
            lines.append(t(lang, "trace.f2_count", count=len(result.f2)))
        return "\n".join(lines)

    def _line(self, number: int, contact: Contact, named: Named) -> str:
        person = named.people.get(contact.person_id)
        first = contact.shared[0]
        return t(
            self.lang,
            "trace.f1_line",
            number=number,
            name=person.name if person else "?",
            phone=display_phone(person.phone) if person else "",
            minutes=round(contact.minutes),
            place=named.places.get(first.checkpoint_id, ""),
            time=format_moment(first.start, self.tz),
        )

    def workbook(self, result: Trace, named: Named) -> bytes:
        """One sheet for the traced person's scans, one for F1, one for F2 when asked."""
        sheets = [
            (
                t(self.lang, "trace.sheet_visits"),
                [t(self.lang, f"trace.col_{c}") for c in ("place", "in", "out", "closed")],
                [self._visit_row(visit, named) for visit in result.visits],
            ),
            self._contact_sheet("F1", result.f1, named),
        ]
        if result.f2:
            sheets.append(self._contact_sheet("F2", result.f2, named, via=True))
        return xlsx_bytes(sheets)

    def _visit_row(self, visit: Visit, named: Named) -> list[object]:
        closed = t(self.lang, f"trace.closed_{visit.closed}") if visit.closed else ""
        out = format_moment(visit.out_at, self.tz) if visit.out_at else ""
        place = named.places.get(visit.checkpoint_id, "")
        return [place, format_moment(visit.in_at, self.tz), out, closed]

    def _contact_sheet(
        self, title: str, contacts: Sequence[Contact], named: Named, via: bool = False
    ) -> tuple[str, list[str], list[list[object]]]:
        columns = [*CONTACT_COLUMNS, *(["via"] if via else [])]
        headers = [t(self.lang, f"trace.col_{column}") for column in columns]
        rows = [self._contact_row(n, c, named, via) for n, c in enumerate(contacts, 1)]
        return title, headers, rows

    def _contact_row(self, number: int, contact: Contact, named: Named, via: bool) -> list[object]:
        person = named.people.get(contact.person_id)
        row: list[object] = [
            number,
            person.name if person else "?",
            display_phone(person.phone) if person else "",
            self.areas.name(person.area) if person else "",
            round(contact.minutes),
            "; ".join(self._shared(contact, named)),
        ]
        if via:
            row.append(", ".join(self._names(contact.via, named)))
        return row

    def _shared(self, contact: Contact, named: Named) -> Iterable[str]:
        for item in contact.shared:
            start, end = format_moment(item.start, self.tz), format_moment(item.end, self.tz)
            yield f"{named.places.get(item.checkpoint_id, '')} {start} – {end[:5]}"

    @staticmethod
    def _names(ids: Iterable[str], named: Named) -> list[str]:
        return sorted(named.people[i].name if i in named.people else "?" for i in ids)
