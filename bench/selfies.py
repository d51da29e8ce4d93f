"""Selfie checks per second and per-photo latency on 1280 px JPEGs with a face.

Each check is the whole pipeline the bot runs in its thread pool: safe decode, normalise,
dHash against a fortnight of earlier hashes, face detection, descriptor, comparison.

Run: .venv/bin/python -m bench.selfies [--photos 100]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from io import BytesIO
from itertools import repeat

import numpy as np
from PIL import Image
from skimage import data

from core.faces import FaceAnalyzer
from core.imaging import normalise_photo
from core.selfies import check_selfie

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
    normalise_times, analyse_times = [], []
    for upload in photos:
        started = time.perf_counter()
        photo = normalise_photo(upload)
        normalised = time.perf_counter()
        analyzer.analyse(photo.jpeg)
        normalise_times.append(normalised - started)
        analyse_times.append(time.perf_counter() - normalised)
    for name, times in (("normalise + dHash", normalise_times), ("faces", analyse_times)):
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


def main() -> None:
    """Parse arguments, build the photos, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--photos", type=int, default=100, help="selfies per run")
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


if __name__ == "__main__":
    main()
