"""Offline face detection and 128-d face descriptors with dlib's models.

The models ship inside the `face_recognition_models` package; nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import dlib  # type: ignore[import-untyped]
import numpy as np
from PIL import Image

_SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"
_ENCODER_MODEL = "dlib_face_recognition_resnet_model_v1.dat"


@dataclass(frozen=True)
class FaceReport:
    """How many faces a photo shows, and the descriptor when it shows exactly one."""

    faces: int
    encoding: tuple[float, ...] | None


class _Models:
    """One thread's dlib detector, 5-point shape predictor and ResNet face encoder."""

    def __init__(self, directory: Path) -> None:
        self.detector = dlib.get_frontal_face_detector()
        self.shapes = dlib.shape_predictor(str(directory / _SHAPE_MODEL))
        self.encoder = dlib.face_recognition_model_v1(str(directory / _ENCODER_MODEL))


class FaceAnalyzer:
    """Counts faces and describes a single face; safe to share between threads.

    Each thread gets its own dlib models (~36 MB, ~0.4 s to load): dlib promises no thread
    safety, and with 2 threads on 2 cores whole selfie checks ran at 9.0/s this way against
    8.2/s with one set behind a lock (1 thread: 8.0/s), because HOG detection releases the
    GIL. The descriptor holds the GIL (~85 ms a face), so more threads gain little; give the
    selfie work a small pool of its own, or processes, which scale (bench/selfies.py).

    Detection runs on a copy whose longest side is at most `detect_side`, with `upsample`
    pyramid doublings: at 640 px and no doubling the smallest face found is ~80 px there,
    1/8 of the photo's longest side, which a selfie exceeds. Each doubling makes detection
    ~4x slower (640 px: 35 ms without, 140 ms with one).

    `min_score` is the HOG score a detection needs. Over 75 framings of astronaut() (shifts,
    ±10° turns, 400-1280 px), dlib's default of 0 also counted the mission patch on her suit
    as a face in 49, which withholds the descriptor too; 0.3 counted it in 3 and missed her
    face in 1; 0.5 counted it in none and missed her face in 4 (turned faces score lowest).
    """

    def __init__(self, upsample: int = 0, detect_side: int = 640, min_score: float = 0.3) -> None:
        self._directory = _models_directory()
        self._upsample = upsample
        self._detect_side = detect_side
        self._min_score = min_score
        self._local = threading.local()
        self._local.models = _Models(self._directory)

    def analyse(self, jpeg: bytes) -> FaceReport:
        """Count the faces in a normalised photo and describe the face when there is one."""
        image = Image.open(BytesIO(jpeg)).convert("RGB")
        factor = max(1, math.ceil(max(image.size) / self._detect_side))
        models = self._models()
        boxes = models.detector.run(
            np.asarray(image.reduce(factor)), self._upsample, self._min_score
        )[0]
        if len(boxes) != 1:
            return FaceReport(faces=len(boxes), encoding=None)
        # The descriptor comes from the full-size photo: its face chip is sharper.
        pixels = np.asarray(image)
        shape = models.shapes(pixels, _scaled(boxes[0], factor))
        encoding = models.encoder.compute_face_descriptor(pixels, shape)
        return FaceReport(faces=1, encoding=tuple(encoding))

    def _models(self) -> _Models:
        """This thread's models, loaded on its first photo."""
        models: _Models | None = getattr(self._local, "models", None)
        if models is None:
            models = self._local.models = _Models(self._directory)
        return models


class FaceCounter:
    """Counts faces fast, on a small copy with the HOG detector alone (no descriptor).

    Meant for the moment a selfie arrives, to ask for a retake at once: 14 ms (p50) on a
    960x1280 selfie at 480 px, against 76 ms for a whole analysis (bench/selfies.py). At
    480 px the smallest face found is ~80 px, a sixth of the photo's longest side; at 320 px
    astronaut()'s face was already missed. The detector needs no model file and releases the
    GIL, so one counter serves a pool of threads (each gets its own detector).

    `min_score` is stricter than FaceAnalyzer's, because a false "several faces" or "no face"
    here makes a resident retake a good photo: at 480 px, frontal faces of astronaut(), the
    LFW samples and a pair of heads scored 1.0-2.5, her mission patch 0.0-0.3.
    """

    def __init__(self, side: int = 480, min_score: float = 0.5) -> None:
        self._side = side
        self._min_score = min_score
        self._local = threading.local()

    def count(self, jpeg: bytes) -> int:
        """How many faces a normalised photo shows."""
        source = Image.open(BytesIO(jpeg))
        source.draft("RGB", (self._side, self._side))  # decode at a reduced DCT scale
        image = source.convert("RGB")
        image.thumbnail((self._side, self._side))
        return len(self._detector().run(np.asarray(image), 0, self._min_score)[0])

    def _detector(self) -> dlib.fhog_object_detector:
        detector: dlib.fhog_object_detector | None = getattr(self._local, "detector", None)
        if detector is None:
            detector = self._local.detector = dlib.get_frontal_face_detector()
        return detector


def face_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Euclidean distance between two descriptors; below ~0.6 usually means the same person."""
    return math.dist(a, b)


def _scaled(box: dlib.rectangle, factor: int) -> dlib.rectangle:
    """A detection box from the reduced copy, in full-size pixel coordinates."""
    return dlib.rectangle(
        box.left() * factor, box.top() * factor, box.right() * factor, box.bottom() * factor
    )


def _models_directory() -> Path:
    """Where face_recognition_models keeps its .dat files.

    Found without importing the package: its helpers import `pkg_resources`, which recent
    setuptools no longer ships.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face_recognition_models is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"
