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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO

import numpy as np
from PIL import Image
from skimage import data

from core.faces import FaceAnalyzer
from core.imaging import normalise_photo
from core.selfies import SelfieCheck, check_selfie

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


def report(name: str, latencies: Sequence[float], wall: float) -> None:
    """Print one line of figures."""
    print(
        f"{name:<30} {len(latencies) / wall:6.2f} selfies/s   "
        f"p50 {statistics.median(latencies) * 1000:6.1f} ms   "
        f"p99 {percentile(latencies, 0.99) * 1000:6.1f} ms"
    )


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


def run(workers: int, photos: list[bytes], reference: Sequence[float], earlier: list[int]) -> None:
    """Check every photo on a pool of `workers` threads and print throughput and latency."""
    analyzer = FaceAnalyzer()
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()

    def check(upload: bytes) -> SelfieCheck:
        started = time.perf_counter()
        result = check_selfie(upload, analyzer, reference, earlier)
        latencies.append(time.perf_counter() - started)
        return result

    warm = threading.Barrier(workers)

    def warm_up(upload: bytes) -> None:
        analyzer.analyse(normalise_photo(upload).jpeg)  # loads this thread's models
        warm.wait()  # so that every worker thread has started and loaded

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(warm_up, photos[:workers]))
        started = time.perf_counter()
        for result in pool.map(check, photos):
            outcomes[f"faces={result.faces} flags={sorted(result.flags)}"] += 1
        wall = time.perf_counter() - started
    report(f"{workers} worker{'s' if workers > 1 else ''}", latencies, wall)
    print(f"  outcomes: {dict(outcomes)}")


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
    earlier = [int(h) for h in np.random.default_rng(2).integers(0, 2**63, EARLIER)]
    stages(analyzer, photos[:20])
    for workers in (1, 2):
        run(workers, photos, reference, earlier)


if __name__ == "__main__":
    main()
