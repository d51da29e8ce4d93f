"""Selfie checks for quarantine declarations: one photo, its faces, its earlier photos.

Flags only describe the photo for a human review queue; they never sanction anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from core.faces import FaceAnalyzer, face_distance
from core.imaging import NormalisedPhoto, hash_distance, normalise_photo


class Flag(StrEnum):
    """Something a reviewer should look at in a selfie."""

    NO_FACE = "no_face"
    SEVERAL_FACES = "several_faces"
    MISMATCH = "mismatch"
    REUSED = "reused"


class Retake(StrEnum):
    """Why a selfie is asked for again the moment it arrives."""

    NO_FACE = "no_face"
    SEVERAL_FACES = "several_faces"
    DARK = "dark"
    BLURRED = "blurred"


# A photo accepted after the last retake keeps what was wrong with it for the reviewer; a
# dark or blurred one shows no usable face.
RETAKE_FLAGS = {
    Retake.NO_FACE: Flag.NO_FACE,
    Retake.SEVERAL_FACES: Flag.SEVERAL_FACES,
    Retake.DARK: Flag.NO_FACE,
    Retake.BLURRED: Flag.NO_FACE,
}
DARK_BELOW = 40.0
BLURRED_BELOW = 12.0


def retake_reason(photo: NormalisedPhoto) -> Retake | None:
    """What makes a just-arrived selfie worth taking again, if anything.

    Too dark is asked again even with a face found: a reviewer could not compare it. Blur
    only explains a missing face: dlib still finds a soft face (a 25 px face enlarged tenfold
    scores 3 here), which is good enough to compare. See core/imaging.py `_exposure`.
    """
    if photo.brightness < DARK_BELOW:
        return Retake.DARK
    if photo.faces is None or photo.faces == 1:
        return None
    if photo.faces > 1:
        return Retake.SEVERAL_FACES
    return Retake.BLURRED if photo.sharpness < BLURRED_BELOW else Retake.NO_FACE


@dataclass(frozen=True)
class FaceCheck:
    """What was noticed about a normalised selfie: its faces and its earlier photos."""

    faces: int
    encoding: tuple[float, ...] | None
    distance: float | None
    flags: frozenset[Flag]


@dataclass(frozen=True)
class SelfieCheck:
    """An uploaded selfie, normalised, and what was noticed about it."""

    photo: NormalisedPhoto
    check: FaceCheck


def check_selfie(
    data: bytes,
    analyzer: FaceAnalyzer,
    reference: Sequence[float] | None,
    earlier_hashes: Sequence[int],
    *,
    mismatch_threshold: float = 0.6,
    max_bytes: int = 10_000_000,
) -> SelfieCheck:
    """Normalise an uploaded selfie and flag it; raises PhotoRejected for unusable uploads."""
    photo = normalise_photo(data, max_bytes=max_bytes)
    check = check_faces(
        photo.jpeg,
        photo.dhash,
        analyzer,
        reference,
        earlier_hashes,
        mismatch_threshold=mismatch_threshold,
    )
    return SelfieCheck(photo, check)


def check_faces(
    jpeg: bytes,
    dhash: int,
    analyzer: FaceAnalyzer,
    reference: Sequence[float] | None,
    earlier_hashes: Sequence[int],
    *,
    mismatch_threshold: float = 0.6,
    reuse_distance: int = 6,
) -> FaceCheck:
    """Flag a normalised selfie: no face, several, another face than the reference, re-used.

    `reuse_distance` 6 catches a re-sent photo even re-encoded or resized (0-3 bits apart)
    and stays far below unrelated photos (25+ bits). A cropped or turned copy (9-11 bits)
    escapes it; a looser limit would risk flagging a new selfie taken in the same pose and
    room, which needs real selfies to measure.
    """
    report = analyzer.analyse(jpeg)
    distance = None
    if report.encoding is not None and reference is not None:
        distance = face_distance(report.encoding, reference)
    flags: set[Flag] = set()
    if report.faces == 0:
        flags.add(Flag.NO_FACE)
    elif report.faces > 1:
        flags.add(Flag.SEVERAL_FACES)
    if distance is not None and distance > mismatch_threshold:
        flags.add(Flag.MISMATCH)
    if any(hash_distance(dhash, earlier) <= reuse_distance for earlier in earlier_hashes):
        flags.add(Flag.REUSED)
    return FaceCheck(report.faces, report.encoding, distance, frozenset(flags))
