"""Workers' and visitors' daily health declarations, keyed by person and day."""

from __future__ import annotations

from datetime import date

from pymongo.errors import DuplicateKeyError

from core.models import DailyCheck
from storage.documents import Database, to_document, without_id


class DailyChecksRepo:
    """The `daily_checks` collection: `_id` is "<person>/<yyyy-mm-dd>", so a day has one."""

    def __init__(self, db: Database) -> None:
        self._checks = db["daily_checks"]

    async def add(self, check: DailyCheck) -> bool:
        """Store a day's declaration; False when that person already declared that day."""
        try:
            await self._checks.insert_one(
                {"_id": _key(check.person_id, check.day), **to_document(check)}
            )
        except DuplicateKeyError:
            return False
        return True

    async def get(self, person_id: str, day: date) -> DailyCheck | None:
        """A person's declaration for one day."""
        document = without_id(await self._checks.find_one({"_id": _key(person_id, day)}))
        return DailyCheck.model_validate(document) if document else None


def _key(person_id: str, day: date) -> str:
    return f"{person_id}/{day.isoformat()}"
