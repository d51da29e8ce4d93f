"""Personal QR cards for people without a smartphone."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from core.models import Card
from core.tokens import new_code
from storage.documents import Database, to_document, without_id


class CardsRepo:
    """The `cards` collection; `code` is unique, for gate accounts to type."""

    def __init__(self, db: Database) -> None:
        self._cards = db["cards"]

    async def add(self, card: Card) -> Card:
        """Store a new card, drawing another code while its code is taken (the stored one on
        a re-run with the same id)."""
        while True:
            try:
                await self._cards.insert_one({"_id": card.id, **to_document(card)})
                return card
            except DuplicateKeyError:
                if stored := await self.get(card.id):
                    return stored
                card = card.model_copy(update={"code": new_code()})

    async def get(self, card_id: str) -> Card | None:
        """A card by id."""
        document = without_id(await self._cards.find_one({"_id": card_id}))
        return Card.model_validate(document) if document else None

    async def by_code(self, code: str) -> Card | None:
        """A card by its printed code."""
        document = without_id(await self._cards.find_one({"code": code}))
        return Card.model_validate(document) if document else None
