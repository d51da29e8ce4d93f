"""How long each kind of personal data is kept, and from when it counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class DataClass(StrEnum):
    """A kind of data with its own retention period."""

    SELFIES = "selfies"  # counted from the end of the case
    DECLARATIONS = "declarations"  # counted from the end of the case
    VISITS = "visits"  # counted from the scan in
    REPORT_PHOTOS = "report_photos"  # counted from the report
    AUDIT = "audit"  # counted from the entry


@dataclass(frozen=True)
class RetentionRules:
    """Days each data class is kept (the settings' `RETENTION_*_DAYS`)."""

    selfies: int = 30
    declarations: int = 90
    visits: int = 30
    report_photos: int = 90
    audit: int = 730

    def cutoff(self, data: DataClass, now: datetime) -> datetime:
        """What of `data` began (or whose case ended) before this moment goes."""
        days: int = getattr(self, data.value)
        return now - timedelta(days=days)
