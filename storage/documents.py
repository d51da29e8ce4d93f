"""Shared helpers for turning models into documents and back."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]
Collection = AsyncCollection[Document]
Database = AsyncDatabase[Document]


def without_id(document: Document | None) -> Document | None:
    """The document minus MongoDB's `_id` (models carry their own keys)."""
    if document is None:
        return None
    document.pop("_id", None)
    return document
