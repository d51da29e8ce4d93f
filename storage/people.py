"""People and their chat accounts."""

from __future__ import annotations

from core.channel import Platform
from core.models import Account, Person
from storage.documents import Database, without_id


class PeopleRepo:
    """The `people` collection: one document per person, `_id` = person id."""

    def __init__(self, db: Database) -> None:
        self._people = db["people"]

    async def add(self, person: Person) -> None:
        """Store a new person."""
        await self._people.insert_one({"_id": person.id, **person.model_dump()})

    async def get(self, person_id: str) -> Person | None:
        """A person by id."""
        document = without_id(await self._people.find_one({"_id": person_id}))
        return Person.model_validate(document) if document else None

    async def delete(self, person_id: str) -> None:
        """Erase a person's record."""
        await self._people.delete_one({"_id": person_id})


class AccountsRepo:
    """The `channel_accounts` collection, unique on (platform, user_id)."""

    def __init__(self, db: Database) -> None:
        self._accounts = db["channel_accounts"]

    async def get(self, platform: Platform, user_id: str) -> Account | None:
        """The account of a platform user, if registered."""
        document = without_id(
            await self._accounts.find_one({"platform": platform.value, "user_id": user_id})
        )
        return Account.model_validate(document) if document else None

    async def save(self, account: Account) -> None:
        """Create or replace an account."""
        await self._accounts.replace_one(
            {"platform": account.platform.value, "user_id": account.user_id},
            account.model_dump(mode="python"),
            upsert=True,
        )

    async def delete(self, platform: Platform, user_id: str) -> None:
        """Forget an account."""
        await self._accounts.delete_one({"platform": platform.value, "user_id": user_id})
