"""Selfie checks per second and per-photo latency on 1280 px JPEGs with a face.

Each check is the whole pipeline the bot runs in its worker pool: safe decode, normalise,
dHash against a fortnight of earlier hashes, face detection, descriptor, comparison. Then the
quick look a selfie gets on arrival (light, sharpness, a face count on a small copy), and the
look-up of other residents' photos of the last 14 days near a new selfie's hash, through the
hash-band index, against reading every hash of the fortnight.

Run: .venv/bin/python -m bench.selfies [--photos 100] [--declarations 30000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from io import BytesIO
from itertools import repeat
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
from PIL import Image
from pymongo import AsyncMongoClient
from skimage import data

from bench.common import BENCH_AUDIT_KEY
from core.clock import FixedClock
from core.faces import FaceAnalyzer, FaceCounter
from core.imaging import BANDED_DISTANCE, hash_distance, normalise_photo
from core.models import Answers, Declaration
from core.selfies import check_selfie
from storage.database import Storage
from storage.declarations import HASH_BAND_INDEX, REUSE_WINDOW, DeclarationsRepo
from storage.documents import Document
from storage.embedded import EmbeddedMongo

EARLIER = 42  # three selfies a day for a 14-day quarantine


def portrait() -> Image.Image:
    """astronaut() enlarged to a 960x1280 portrait, as a phone's front camera frames it."""
    face = Image.fromarray(data.astronaut())  # type: ignore[no-untyped-call]
    return face.resize((1280, 1280), Image.Resampling.LANCZOS).crop((160, 0, 1120, 1280))


def uploads(count: int) -> list[bytes]:
    """`count` different JPEGs of the portrait: exposure and sensor noise vary per photo."""
    base = np.asarray(portrait(), dtype=np.float32)
    rng = np.random.default_rng(1)
    photos = []
    for _ in range(count):
        pixels = base * rng.uniform(0.85, 1.15) + rng.normal(0, 3, base.shape)
        out = BytesIO()
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
        photos.append(out.getvalue())
    return photos


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which `fraction` of `values` fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def stages(analyzer: FaceAnalyzer, photos: list[bytes]) -> None:
    """Time each stage alone, on one thread."""
    counter = FaceCounter()
    normalise_times, count_times, analyse_times = [], [], []
    for upload in photos:
        started = time.perf_counter()
        photo = normalise_photo(upload)
        normalised = time.perf_counter()
        counter.count(photo.jpeg)
        counted = time.perf_counter()
        analyzer.analyse(photo.jpeg)
        normalise_times.append(normalised - started)
        count_times.append(counted - normalised)
        analyse_times.append(time.perf_counter() - counted)
    for name, times in (
        ("normalise + dHash + light", normalise_times),
        ("quick face count (480 px)", count_times),
        ("faces", analyse_times),
    ):
        print(f"  {name:<28} p50 {statistics.median(times) * 1000:6.1f} ms")


@dataclass(frozen=True)
class Case:
    """What a check needs besides the photo: the case's reference face and earlier hashes."""

    reference: tuple[float, ...]
    earlier: tuple[int, ...]


def timed_check(analyzer: FaceAnalyzer, upload: bytes, case: Case) -> tuple[float, str]:
    """One whole selfie check: its duration and a summary of its outcome."""
    started = time.perf_counter()
    result = check_selfie(upload, analyzer, case.reference, case.earlier)
    found = result.check
    return time.perf_counter() - started, f"faces={found.faces} flags={sorted(found.flags)}"


_process_analyzer: list[FaceAnalyzer] = []  # a worker process's own analyzer


def load_process_analyzer() -> None:
    """Worker process initialiser: load the models before any photo arrives."""
    _process_analyzer.append(FaceAnalyzer())


def check_in_process(upload: bytes, case: Case) -> tuple[float, str]:
    """timed_check with the worker process's analyzer."""
    return timed_check(_process_analyzer[0], upload, case)


def measure(name: str, checks: Callable[[], Iterable[tuple[float, str]]]) -> None:
    """Run `checks` and print throughput, latency and what was found."""
    started = time.perf_counter()
    timings = list(checks())
    wall = time.perf_counter() - started
    latencies = [seconds for seconds, _ in timings]
    print(
        f"{name:<12} {len(latencies) / wall:6.2f} selfies/s   "
        f"p50 {statistics.median(latencies) * 1000:6.1f} ms   "
        f"p99 {percentile(latencies, 0.99) * 1000:6.1f} ms   "
        f"{dict(Counter(outcome for _, outcome in timings))}"
    )


def threads(workers: int, photos: list[bytes], case: Case) -> None:
    """The bot's way: one shared FaceAnalyzer on a pool of threads."""
    analyzer = FaceAnalyzer()
    warm = threading.Barrier(workers)

    def warm_up(upload: bytes) -> None:
        analyzer.analyse(normalise_photo(upload).jpeg)  # loads this thread's models
        warm.wait()  # holds the thread, so that each warm-up call gets a thread of its own

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(warm_up, photos[:workers]))
        check = partial(timed_check, analyzer, case=case)
        measure(f"{workers} thread{'s' * (workers > 1)}", lambda: pool.map(check, photos))


def processes(workers: int, photos: list[bytes], case: Case) -> None:
    """For comparison: an analyzer per worker process, out of reach of one another's GIL."""
    with ProcessPoolExecutor(max_workers=workers, initializer=load_process_analyzer) as pool:
        list(pool.map(check_in_process, photos[: workers * 2], repeat(case)))
        measure(f"{workers} processes", lambda: pool.map(check_in_process, photos, repeat(case)))


NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)


def fortnight_hashes(count: int, clustered: bool) -> list[int]:
    """`count` selfie hashes: uniform, or 4 bits off one of 50 poses, a worst case where
    different people's selfies look alike (their bands collide, and many are near)."""
    rng = np.random.default_rng(3)
    if not clustered:
        return [int(h) for h in rng.integers(0, 2**63, count)]
    poses = [int(h) for h in rng.integers(0, 2**63, 50)]
    hashes = []
    for chosen in rng.choice(len(poses), count):
        dhash = poses[int(chosen)]
        for bit in rng.choice(64, 4, replace=False):
            dhash ^= 1 << int(bit)
        hashes.append(dhash)
    return hashes


def declaration_documents(hashes: list[int]) -> list[Document]:
    """Declarations of a fortnight, 42 per case, each with one of `hashes`."""
    step = REUSE_WINDOW / len(hashes)
    return [
        DeclarationsRepo.document(
            Declaration(
                id=f"d{index}",
                receipt=f"R{index:07d}",
                case_id=f"c{index // 42}",
                area="tan-ha",
                local_date=(NOW - step * index).date(),
                slot=None,
                timing="adhoc",
                answers=Answers(),
                dhash=f"{dhash:016x}",
                submitted_at=NOW - step * index,
            )
        )
        for index, dhash in enumerate(hashes)
    ]


async def reuse_lookups(storage: Storage, hashes: list[int], probes: int) -> None:
    """Time `hashes(case, excluding=...)` (the case's own, then the band look-up) against a
    read of the whole fortnight, and check that both find the same near hashes."""
    repo, collection = storage.declarations, storage.db["declarations"]
    banded, scanned, found, agreed = [], [], 0, 0
    step = REUSE_WINDOW / len(hashes)
    for index in range(0, len(hashes), len(hashes) // probes):
        case_id, dhash = f"c{index // 42}", hashes[index]
        started = time.perf_counter()
        earlier = await repo.hashes(case_id, excluding=f"d{index}")
        banded.append(time.perf_counter() - started)
        started = time.perf_counter()
        window = {"submitted_at": {"$gte": NOW - REUSE_WINDOW - timedelta(days=1)}}
        everything = [
            d async for d in collection.find(window, {"dhash": 1, "case_id": 1, "submitted_at": 1})
        ]
        close = [
            d
            for d in everything
            if d["_id"] != f"d{index}"
            and (d["case_id"] == case_id or d["submitted_at"] < NOW - step * index)
            and hash_distance(int(d["dhash"], 16), dhash) <= BANDED_DISTANCE
        ]
        scanned.append(time.perf_counter() - started)
        near = [h for h in earlier if hash_distance(h, dhash) <= BANDED_DISTANCE]
        found += len(near)
        agreed += len(near) == len(close)
    for name, times in (("band look-up", banded), ("read the fortnight", scanned)):
        print(
            f"  {name:<20} p50 {statistics.median(times) * 1000:7.1f} ms   "
            f"p99 {percentile(times, 0.99) * 1000:7.1f} ms"
        )
    ratio = statistics.median(scanned) / statistics.median(banded)
    print(
        f"  band look-up {ratio:.0f}x faster; {found} near hashes found in {len(banded)} "
        f"probes, the same as the full read in {agreed} of them"
    )


async def reuse_figures(count: int, probes: int = 50) -> None:
    """Cross-case re-use: the band look-up over a fortnight of `count` declarations."""
    with TemporaryDirectory() as directory:
        mongo = EmbeddedMongo(Path(directory) / "db", fixed_clock=True)
        client: AsyncMongoClient[Document] = AsyncMongoClient(await mongo.start(), tz_aware=True)
        try:
            for clustered in (False, True):
                db = client[f"bench_{int(clustered)}"]
                storage = Storage.over(db, FixedClock(NOW), BENCH_AUDIT_KEY.encode())
                hashes = fortnight_hashes(count, clustered)
                await db["declarations"].create_indexes([HASH_BAND_INDEX])
                await db["declarations"].create_index("case_id")
                await db["declarations"].create_index("submitted_at")
                started = time.perf_counter()
                documents = declaration_documents(hashes)
                for batch in range(0, count, 10_000):
                    await db["declarations"].insert_many(documents[batch : batch + 10_000])
                kind = "4 bits off 50 poses" if clustered else "uniform hashes"
                print(
                    f"{count} declarations in 14 days ({kind}), "
                    f"inserted in {time.perf_counter() - started:.1f} s"
                )
                await reuse_lookups(storage, hashes, probes)
        finally:
            await client.close()
            await mongo.stop()


def main() -> None:
    """Parse arguments, build the photos, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--photos", type=int, default=100, help="selfies per run")
    parser.add_argument(
        "--declarations", type=int, default=30_000, help="declarations in 14 days (re-use)"
    )
    args = parser.parse_args()
    photos = uploads(args.photos)
    print(f"{len(photos)} JPEGs of 960x1280, {sum(map(len, photos)) // len(photos)} bytes each")
    started = time.perf_counter()
    analyzer = FaceAnalyzer()
    print(f"model load: {(time.perf_counter() - started) * 1000:.0f} ms per thread")
    reference = analyzer.analyse(normalise_photo(photos[0]).jpeg).encoding
    if reference is None:
        raise SystemExit("no single face in the reference photo")
    # Stand-ins for the case's earlier selfies (the photos here would all match each other).
    earlier = tuple(int(h) for h in np.random.default_rng(2).integers(0, 2**63, EARLIER))
    stages(analyzer, photos[:20])
    case = Case(reference, earlier)
    threads(1, photos, case)
    threads(2, photos, case)
    processes(2, photos, case)
    asyncio.run(reuse_figures(args.declarations))


if __name__ == "__main__":
    main()
