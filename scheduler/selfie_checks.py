"""Selfie checks after the receipt: faces compared and re-use sought, flags for staff review.

A declaration is stored with `checks_pending` and the resident has their receipt; the checker
takes it from there, in this process at once (`request`) or, should the process die first,
from the database on the next `recover`. Flags only put the photo in the review queue; the
first clean selfie of a case becomes its reference face.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from core.ports import Cases, Declarations, PhotoStore
from core.selfies import FaceCheck

log = logging.getLogger(__name__)

Check = Callable[[bytes, int, Sequence[float] | None, Sequence[int]], Awaitable[FaceCheck]]


class SelfieChecks:
    """Checks the selfies of declarations waiting for it, `workers` at a time."""

    def __init__(
        self,
        declarations: Declarations,
        cases: Cases,
        photos: PhotoStore,
        check: Check,
        workers: int = 2,
        flagged: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._declarations = declarations
        self._cases = cases
        self._photos = photos
        self._check = check
        self._workers = workers
        self._flagged = flagged  # told the id of each declaration its check flagged
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the workers."""
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]

    def request(self, declaration_id: str) -> None:
        """Check this declaration's selfie soon (a repeat request is ignored)."""
        if declaration_id not in self._queued:
            self._queued.add(declaration_id)
            self._queue.put_nowait(declaration_id)

    async def recover(self) -> None:
        """Queue every declaration still waiting for its check (its process may have died)."""
        for declaration in await self._declarations.checks_pending():
            self.request(declaration.id)

    async def idle(self) -> None:
        """Wait until every requested check is done (tests and benchmarks)."""
        await self._queue.join()

    async def stop(self) -> None:
        """Stop the workers; unchecked declarations are taken up by the next `recover`."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def check(self, declaration_id: str) -> None:
        """Check one declaration's selfie and store the outcome (once)."""
        declaration = await self._declarations.get(declaration_id)
        if declaration is None or not declaration.checks_pending:
            return
        case = await self._cases.get(declaration.case_id)
        photo_id = declaration.selfie_id
        jpeg = await self._photos.get(photo_id) if photo_id else None
        if case is None or jpeg is None or photo_id is None:  # erased meanwhile: nothing to see
            await self._declarations.checked(declaration.id, 0, None, [])
            return
        earlier = await self._declarations.hashes(case.id, excluding=declaration.id)
        found = await self._check(jpeg, int(declaration.dhash, 16), case.reference_face, earlier)
        flags = sorted(flag.value for flag in found.flags)
        stored = await self._declarations.checked(
            declaration.id, found.faces, found.distance, flags
        )
        if stored and flags and self._flagged is not None:
            await self._flagged(declaration.id)
        if found.encoding is not None and not flags and case.reference_face is None:
            await self._cases.set_reference(case.id, list(found.encoding), photo_id)

    async def _work(self) -> None:
        while True:
            declaration_id = await self._queue.get()
            try:
                await self.check(declaration_id)
            except Exception:
                log.exception("selfie check failed", extra={"declaration": declaration_id})
            finally:
                self._queued.discard(declaration_id)
                self._queue.task_done()
