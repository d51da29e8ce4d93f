"""Dates as Vietnamese users write them: day/month/year."""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo

_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2}|\d{4}))?")


def format_date(day: date) -> str:
    """27/11/2026."""
    return day.strftime("%d/%m/%Y")


def format_moment(moment: datetime, zone: tzinfo) -> str:
    """A moment as local "13:05 27/11/2026"."""
    return moment.astimezone(zone).strftime("%H:%M %d/%m/%Y")


def parse_date(text: str, today: date) -> date | None:
    """ "27/11/2026", "27-11-26" or "27/11" (this year) → a date; None when not a valid date."""
    match = _DATE.fullmatch(text.strip())
    if not match:
        return None
    day, month, year = match.groups()
    full_year = today.year if year is None else int(year) + (2000 if len(year) == 2 else 0)
    try:
        return date(full_year, int(month), int(day))
    except ValueError:
        return None
