"""Staff roles and scopes."""

from __future__ import annotations

from core.channel import Platform
from core.models import Staff
from storage.documents import Database, without_id


class StaffRepo:
    """The `staff` collection, unique on the chat account."""

    def __init__(self, db: Database) -> None:
        self._staff = db["staff"]

    async def get(self, platform: Platform, user_id: str) -> Staff | None:
        """The staff record of an account, if any."""
        document = without_id(
            await self._staff.find_one({"platform": platform.value, "user_id": user_id})
        )
        return Staff.model_validate(document) if document else None

    async def add(self, staff: Staff) -> None:
        """Create or replace a staff record."""
        # A re-added officer keeps the language they chose.
        await self._staff.update_one(
            {"platform": staff.platform.value, "user_id": staff.user_id},
            {
                "$set": staff.model_dump(mode="python", exclude={"language"}),
                "$setOnInsert": {"language": staff.language},
            },
            upsert=True,
        )

    async def set_language(self, platform: Platform, user_id: str, language: str) -> None:
        """Change the language a staff member is answered in (nothing if they are not staff)."""
        query = {"platform": platform.value, "user_id": user_id}
        await self._staff.update_one(query, {"$set": {"language": language}})

    async def set_gate(self, platform: Platform, user_id: str, checkpoint_id: str) -> bool:
        """Make a staff account record personal cards at a checkpoint ("" to stop)."""
        query = {"platform": platform.value, "user_id": user_id}
        result = await self._staff.update_one(query, {"$set": {"gate": checkpoint_id}})
        return result.matched_count == 1

    async def remove(self, platform: Platform, user_id: str) -> bool:
        """Remove a staff record; False when there was none."""
        result = await self._staff.delete_one({"platform": platform.value, "user_id": user_id})
        return result.deleted_count > 0

    async def all(self) -> list[Staff]:
        """Every staff record, ordered by platform and user."""
        cursor = self._staff.find({}).sort([("platform", 1), ("user_id", 1)])
        return [Staff.model_validate(without_id(document)) async for document in cursor]
