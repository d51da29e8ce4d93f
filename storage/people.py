"""People and their chat accounts."""

from __future__ import annotations

from collections.abc import Iterable

from pymongo.errors import DuplicateKeyError

from core.channel import Platform
from core.models import Account, Consent, LabTest, Person, Vaccination
from storage.documents import Database, to_document, without_id
from storage.workers import merged_records


class PeopleRepo:
    """The `people` collection: one document per person, `_id` = person id."""

    def __init__(self, db: Database) -> None:
        self._people = db["people"]

    async def add(self, person: Person) -> bool:
        """Store a new person; False when the id exists (the same update run again)."""
        try:
            await self._people.insert_one({"_id": person.id, **person.model_dump()})
        except DuplicateKeyError:
            return False
        return True

    async def enrolled(self, person: Person) -> None:
        """Create or refresh the record staff typed for a phone (its id comes from the phone)."""
        details = {"name": person.name, "area": person.area, "address": person.address}
        created = {
            "id": person.id,
            "phone": person.phone,
            "consent": None,
            "created_at": person.created_at,
        }
        for _ in range(2):  # two officers at once: the loser of the upsert race updates
            try:
                await self._people.update_one(
                    {"_id": person.id}, {"$set": details, "$setOnInsert": created}, upsert=True
                )
                return
            except DuplicateKeyError:
                continue

    async def register(
        self, person_id: str, name: str, phone: str, area: str, consent: Consent
    ) -> None:
        """The resident completed a record staff created: their own details and consent."""
        details = {"name": name, "phone": phone, "area": area, "consent": consent.model_dump()}
        await self._people.update_one({"_id": person_id}, {"$set": details})

    async def set_consent(self, person_id: str, consent: Consent) -> None:
        """Record the person's consent as it now stands (withdrawn, or given again)."""
        await self._people.update_one(
            {"_id": person_id}, {"$set": {"consent": consent.model_dump()}}
        )

    async def fill_address(self, person_id: str, address: str) -> None:
        """Set the address where none is known yet."""
        await self._people.update_one(
            {"_id": person_id, "address": ""}, {"$set": {"address": address}}
        )

    async def add_records(
        self,
        person_id: str,
        residence: str,
        tests: list[LabTest],
        vaccinations: list[Vaccination],
    ) -> bool:
        """Set a person's place of stay (when given) and add tests and doses not yet known."""
        person = await self.get(person_id)
        if person is None:
            return False
        tests, vaccinations = merged_records(person.tests, person.vaccinations, tests, vaccinations)
        records = {
            "residence": residence or person.residence,
            "tests": [to_document(test) for test in tests],
            "vaccinations": [to_document(dose) for dose in vaccinations],
        }
        await self._people.update_one({"_id": person_id}, {"$set": records})
        return True

    async def get(self, person_id: str) -> Person | None:
        """A person by id."""
        document = without_id(await self._people.find_one({"_id": person_id}))
        return Person.model_validate(document) if document else None

    async def delete(self, person_id: str) -> None:
        """Erase a person's record."""
        await self._people.delete_one({"_id": person_id})

    async def many(self, person_ids: Iterable[str]) -> dict[str, Person]:
        """People by id, fetched in chunks of bounded `$in` lookups."""
        found: dict[str, Person] = {}
        for chunk in _chunks(list(person_ids)):
            async for document in self._people.find({"_id": {"$in": chunk}}):
                person = Person.model_validate(without_id(document))
                found[person.id] = person
        return found

    async def with_phone(self, phone: str) -> list[Person]:
        """Everyone with this phone number (+84 form): a number is not a person."""
        cursor = self._people.find({"phone": phone})
        return [Person.model_validate(without_id(document)) async for document in cursor]


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
        """Bind a chat account to a person (creating it, or re-binding it at registration)."""
        await self._accounts.update_one(
            {"platform": account.platform.value, "user_id": account.user_id},
            {"$set": account.model_dump(mode="python")},
            upsert=True,
        )

    async def set_language(self, platform: Platform, user_id: str, language: str) -> None:
        """Change the language an account is answered in."""
        query = {"platform": platform.value, "user_id": user_id}
        await self._accounts.update_one(query, {"$set": {"language": language}})

    async def unblock(self, platform: Platform, user_id: str) -> None:
        """The user wrote to us again: they no longer block the bot."""
        query = {"platform": platform.value, "user_id": user_id}
        await self._accounts.update_one(query, {"$set": {"blocked": False}})

    async def delete(self, platform: Platform, user_id: str) -> None:
        """Forget an account."""
        await self._accounts.delete_one({"platform": platform.value, "user_id": user_id})

    async def of_person(self, person_id: str) -> list[Account]:
        """Every chat account bound to a person."""
        cursor = self._accounts.find({"person_id": person_id})
        return [Account.model_validate(without_id(document)) async for document in cursor]

    async def of_people(self, person_ids: Iterable[str]) -> list[Account]:
        """Every chat account bound to any of these people."""
        accounts: list[Account] = []
        for chunk in _chunks(list(person_ids)):
            cursor = self._accounts.find({"person_id": {"$in": chunk}})
            accounts += [Account.model_validate(without_id(document)) async for document in cursor]
        return accounts

    async def set_blocked(self, platform: Platform, chat_id: str) -> None:
        """Mark the account behind a chat as having blocked the bot."""
        query = {"platform": platform.value, "chat_id": chat_id}
        await self._accounts.update_many(query, {"$set": {"blocked": True}})


def _chunks(ids: list[str], size: int = 1000) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
