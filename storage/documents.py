"""Shared helpers for turning models into documents and back."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]
Collection = AsyncCollection[Document]
Database = AsyncDatabase[Document]
Session = AsyncClientSession


def without_id(document: Document | None) -> Document | None:
    """The document minus MongoDB's `_id` (models carry their own keys)."""
    if document is None:
        return None
    document.pop("_id", None)
    return document


def to_document(model: BaseModel) -> Document:
    """A model as a BSON-ready document: calendar dates become ISO strings (BSON has no date)."""
    return _bson_ready(model.model_dump(mode="python"))  # type: ignore[no-any-return]


def _bson_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _bson_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_bson_ready(item) for item in value]
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value
