"""Authority alerts (CAP-shaped), numbered for staff, unique by CAP sender and identifier."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo.errors import DuplicateKeyError

from core.models import Alert, AlertState
from storage.counters import increment
from storage.documents import Database, to_document, without_id

IN_FORCE = frozenset({AlertState.APPROVED.value, AlertState.SENDING.value, AlertState.DONE.value})
PUBLISHED = IN_FORCE | {AlertState.SUPERSEDED.value}  # confirmed once: their CAP stays readable


class AlertsRepo:
    """The `alerts` collection: `_id` is the alert id; unique `number`, unique
    `(sender, identifier)` (a CAP message received twice is one alert), index `state`."""

    def __init__(self, db: Database) -> None:
        self._alerts = db["alerts"]
        self._counters = db["counters"]

    async def next_number(self) -> int:
        """The number the next alert gets (1, 2, 3...): short for staff to type."""
        return await increment(self._counters, "alerts")

    async def add(self, alert: Alert) -> bool:
        """Store a new alert; False when its id or its sender's identifier is known."""
        try:
            await self._alerts.insert_one({"_id": alert.id, **to_document(alert)})
        except DuplicateKeyError:
            return False
        return True

    async def get(self, alert_id: str) -> Alert | None:
        """An alert by id."""
        return _alert(await self._alerts.find_one({"_id": alert_id}))

    async def by_number(self, number: int) -> Alert | None:
        """An alert by the number staff see."""
        return _alert(await self._alerts.find_one({"number": number}))

    async def by_identifier(self, sender: str, identifier: str) -> Alert | None:
        """An alert by its CAP sender and identifier."""
        return _alert(await self._alerts.find_one({"sender": sender, "identifier": identifier}))

    async def move(
        self, alert_id: str, expected: Iterable[AlertState], to: AlertState, **fields: Any
    ) -> bool:
        """Move an alert to state `to` (setting `fields`) if it is in one of `expected`."""
        states = [state.value for state in expected]
        result = await self._alerts.update_one(
            {"_id": alert_id, "state": {"$in": states}}, {"$set": {"state": to.value, **fields}}
        )
        return result.modified_count == 1

    async def in_states(self, states: Iterable[AlertState]) -> list[Alert]:
        """Alerts in any of `states` (a handful: those in progress or waiting)."""
        found = self._alerts.find({"state": {"$in": [state.value for state in states]}})
        return [alert async for document in found if (alert := _alert(document))]

    async def unfinished(self) -> list[Alert]:
        """Alerts being sent, or cut short, whose delivery report is still due."""
        states = [AlertState.SENDING.value, AlertState.SUPERSEDED.value]
        found = self._alerts.find({"state": {"$in": states}, "finished_at": None})
        return [alert async for document in found if (alert := _alert(document))]

    async def superseded_among(self, alert_ids: Iterable[str]) -> set[str]:
        """Which of these alerts were updated or cancelled since."""
        found = self._alerts.find(
            {"_id": {"$in": list(alert_ids)}, "state": AlertState.SUPERSEDED.value}, {"_id": 1}
        )
        return {document["_id"] async for document in found}

    async def recent(self, count: int) -> list[Alert]:
        """The latest alerts, newest first."""
        top = await self.last_number()
        found = self._alerts.find({"number": {"$gt": top - count, "$lte": top}})
        alerts = [alert async for document in found if (alert := _alert(document))]
        return sorted(alerts, key=lambda alert: alert.number, reverse=True)

    async def published(self, identifier: str) -> Alert | None:
        """The public, confirmed alert with this CAP identifier (the latest if several
        senders used it)."""
        found = self._alerts.find(
            {
                "identifier": identifier,
                "scope": "Public",
                "state": {"$in": list(PUBLISHED)},
                "approved_by": {"$ne": ""},  # superseded before anyone confirmed it: never out
            }
        )
        alerts = [alert async for document in found if (alert := _alert(document))]
        return max(alerts, key=lambda alert: alert.number, default=None)

    async def current_public(self, count: int) -> list[Alert]:
        """Among the latest `count` alerts, the public, confirmed ones still in force (not
        superseded, not a cancellation), newest first."""
        top = await self.last_number()
        found = self._alerts.find(
            {
                "number": {"$gt": top - count, "$lte": top},
                "scope": "Public",
                "msg_type": {"$ne": "Cancel"},
                "state": {"$in": list(IN_FORCE)},
            }
        )
        alerts = [alert async for document in found if (alert := _alert(document))]
        return sorted(alerts, key=lambda alert: alert.number, reverse=True)

    async def last_number(self) -> int:
        """The highest number given so far (0 before the first alert)."""
        counter = await self._counters.find_one({"_id": "alerts"})
        return int(counter["seq"]) if counter else 0


def _alert(document: dict[str, Any] | None) -> Alert | None:
    found = without_id(document)
    return Alert.model_validate(found) if found else None
