"""The selfie pipeline on real images: safe normalisation, perceptual hash, faces and flags.

Faces are real photographs shipped with scikit-image: astronaut() (Eileen Collins) and the
Labeled Faces in the Wild sample in lfw_subset() for a second, different person.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from typing import Any

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, ImageFilter

from core.faces import FaceAnalyzer, FaceCounter, face_distance
from core.imaging import BANDED_DISTANCE, PhotoRejected, hash_bands, hash_distance, normalise_photo
from core.selfies import Flag, Retake, check_selfie, retake_reason
from tests.images import (
    ASTRONAUT,
    HEAD,
    darkened,
    encode,
    gradient,
    lfw_face,
    noise,
    png_bomb,
    sample,
    two_heads,
)

# JFIF header, quantisation and Huffman tables, baseline frame: no metadata segment.
CLEAN_JPEG_MARKERS = {0xE0, 0xDB, 0xC4, 0xC0}


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    """One analyzer for the module: loading dlib's models takes a while."""
    return FaceAnalyzer()


def decode(jpeg: bytes) -> Image.Image:
    """A normalised photo's pixels."""
    image = Image.open(BytesIO(jpeg))
    assert image.format == "JPEG"
    return image.convert("RGB")


def jpeg_markers(jpeg: bytes) -> set[int]:
    """The segment markers a JPEG carries before its scan data."""
    markers: set[int] = set()
    position = 2
    while jpeg[position + 1] != 0xDA:  # start of scan
        markers.add(jpeg[position + 1])
        position += 2 + int.from_bytes(jpeg[position + 2 : position + 4], "big")
    return markers


def reject_reason(upload: bytes, **limits: int) -> str:
    """Why normalise_photo refuses `upload`."""
    with pytest.raises(PhotoRejected) as refused:
        normalise_photo(upload, **limits)
    return refused.value.reason


# --- normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("JPEG", {"quality": 92}),
        ("PNG", {}),
        ("WEBP", {"quality": 90}),
        # Multi-picture JPEG, as many phones save photos (a second, smaller image follows).
        ("MPO", {"save_all": True, "append_images": [HEAD]}),
    ],
)
def test_uploads_become_a_clean_jpeg_with_one_face(
    analyzer: FaceAnalyzer, fmt: str, options: dict[str, Any]
) -> None:
    check = check_selfie(encode(ASTRONAUT, fmt, **options), analyzer, None, [])
    assert (check.photo.width, check.photo.height) == decode(check.photo.jpeg).size == (512, 512)
    assert jpeg_markers(check.photo.jpeg) == CLEAN_JPEG_MARKERS
    assert check.check.faces == 1
    assert check.check.encoding is not None and len(check.check.encoding) == 128
    assert check.check.distance is None
    assert check.check.flags == frozenset()


def test_exif_orientation_is_applied(analyzer: FaceAnalyzer) -> None:
    upright = ASTRONAUT.crop((64, 0, 448, 512))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # stored turned a quarter left; show turned right
    upload = encode(upright.transpose(Image.Transpose.ROTATE_90), exif=exif)
    photo = normalise_photo(upload)
    assert (photo.width, photo.height) == (384, 512)
    difference = np.abs(np.asarray(decode(photo.jpeg), float) - np.asarray(upright, float))
    assert difference.mean() < 4
    assert analyzer.analyse(photo.jpeg).faces == 1


def test_exif_gps_icc_xmp_and_comments_are_stripped() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "VinSmart"
    exif[ExifTags.Base.DateTime] = "2026:11:27 08:15:00"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (21.0, 1.0, 42.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (105.0, 51.0, 12.0)
    upload = encode(
        ASTRONAUT,
        exif=exif,
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>Nguyen Van An</x:xmpmeta>",
        comment=b"home: 12 Hang Bac",
    )
    source = Image.open(BytesIO(upload))
    assert source.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert {0xE1, 0xE2, 0xFE} <= jpeg_markers(upload)  # EXIF+XMP, ICC, comment

    photo = normalise_photo(upload)
    assert jpeg_markers(photo.jpeg) == CLEAN_JPEG_MARKERS
    result = Image.open(BytesIO(photo.jpeg))
    assert not result.getexif()
    assert not {"exif", "icc_profile", "xmp", "comment"} & result.info.keys()


def test_transparency_is_laid_on_white() -> None:
    rgba = ASTRONAUT.convert("RGBA")
    rgba.paste((0, 0, 0, 0), (0, 0, 200, 200))  # transparent black
    result = decode(normalise_photo(encode(rgba, "PNG")).jpeg)
    assert all(channel >= 250 for channel in result.getpixel((100, 100)))  # type: ignore[union-attr]
    assert result.getpixel((400, 400)) != (255, 255, 255)


def test_sixteen_bit_grayscale_is_scaled_not_clipped() -> None:
    mid_grey = Image.fromarray(np.full((200, 300), 32768, dtype=np.uint16))
    assert mid_grey.mode == "I;16"
    result = decode(normalise_photo(encode(mid_grey, "PNG")).jpeg)
    assert result.getpixel((150, 100)) == (128, 128, 128)


def test_large_photos_are_downscaled_to_the_longest_side() -> None:
    big = ASTRONAUT.resize((3000, 2000))
    photo = normalise_photo(encode(big, quality=90))
    assert (photo.width, photo.height) == decode(photo.jpeg).size == (1280, 853)
    portrait = normalise_photo(encode(big.transpose(Image.Transpose.ROTATE_90)), max_side=640)
    assert (portrait.width, portrait.height) == (427, 640)


def test_an_upload_over_the_byte_limit_is_refused_before_decoding(
    analyzer: FaceAnalyzer,
) -> None:
    upload = encode(ASTRONAUT, "PNG")
    assert reject_reason(upload, max_bytes=len(upload) - 1) == "too_large"
    assert reject_reason(b"x" * 1001, max_bytes=1000) == "too_large"  # never even parsed
    with pytest.raises(PhotoRejected, match="too_large"):
        check_selfie(upload, analyzer, None, [], max_bytes=len(upload) - 1)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [7_000, 10_000, 20_000])
def test_decompression_bombs_are_refused(side: int) -> None:
    # 49 MP is over our 40 MP limit only; 100 MP also trips Pillow's warning, 400 MP its error.
    bomb = png_bomb(side)
    assert len(bomb) < 100_000
    assert reject_reason(bomb) == "bomb"
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's global default is left alone


def test_truncated_and_damaged_files_are_corrupt() -> None:
    jpeg = encode(ASTRONAUT)
    assert reject_reason(jpeg[: len(jpeg) // 2]) == "corrupt"
    png = encode(ASTRONAUT, "PNG")
    damaged = bytearray(png)
    damaged[len(png) // 2] ^= 0xFF  # inside the compressed pixels
    assert reject_reason(bytes(damaged)) == "corrupt"
    bad_checksum = bytearray(png)
    bad_checksum[png.index(b"IEND") - 8] ^= 0xFF  # last IDAT's CRC: only verify() sees it
    assert reject_reason(bytes(bad_checksum)) == "corrupt"


@pytest.mark.parametrize(
    "upload",
    [
        encode(ASTRONAUT, "GIF"),
        encode(ASTRONAUT, "BMP"),
        encode(ASTRONAUT, "TIFF"),
        b"Toi khong co trieu chung gi",
        b"",
    ],
    ids=["gif", "bmp", "tiff", "text", "empty"],
)
def test_other_formats_are_not_images(upload: bytes) -> None:
    assert reject_reason(upload) == "not_an_image"


@pytest.mark.parametrize("size", [(80, 80), (99, 400), (6000, 120)], ids=str)
def test_tiny_photos_are_too_small(size: tuple[int, int]) -> None:
    # 6000x120 is tall enough as uploaded but only 25 px once shrunk to 1280 wide.
    assert reject_reason(encode(ASTRONAUT.resize(size))) == "too_small"


# --- perceptual hash and re-used photos --------------------------------------------------


def test_dhash_survives_recompression_and_resizing_but_not_a_different_photo() -> None:
    original = normalise_photo(encode(ASTRONAUT, "PNG")).dhash
    copy = normalise_photo(encode(ASTRONAUT.resize((358, 358)), quality=60)).dhash
    assert hash_distance(original, copy) <= 3
    for other in ("camera", "coffee", "chelsea", "rocket"):
        photo = normalise_photo(encode(sample(other)))
        assert hash_distance(original, photo.dhash) >= 20
    assert hash_distance(0, (1 << 64) - 1) == 64


def test_a_recompressed_copy_is_flagged_reused_and_a_new_photo_is_not(
    analyzer: FaceAnalyzer,
) -> None:
    earlier = [normalise_photo(encode(ASTRONAUT, quality=95)).dhash]
    copy = encode(ASTRONAUT.resize((400, 400)), quality=50)
    assert Flag.REUSED in check_selfie(copy, analyzer, None, earlier).check.flags
    camera = encode(sample("camera"))
    assert Flag.REUSED not in check_selfie(camera, analyzer, None, earlier).check.flags
    assert Flag.REUSED not in check_selfie(copy, analyzer, None, []).check.flags


@pytest.mark.parametrize("seed", range(20))
def test_hashes_close_enough_to_be_reused_share_a_band(seed: int) -> None:
    rng = np.random.default_rng(seed)
    original = int(rng.integers(0, 2**63)) << 1 | int(rng.integers(0, 2))
    near = original
    for bit in rng.choice(64, BANDED_DISTANCE, replace=False):
        near ^= 1 << int(bit)
    assert hash_distance(original, near) == BANDED_DISTANCE
    assert set(hash_bands(original)) & set(hash_bands(near))
    assert len(hash_bands(original)) == BANDED_DISTANCE + 1
    assert not set(hash_bands(0)) & set(hash_bands((1 << 64) - 1))


# --- faces -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "faces", "reason"),
    [
        (ASTRONAUT, 1, None),
        (ASTRONAUT.resize((400, 400)), 1, None),  # the mission patch is not a second face
        (HEAD, 1, None),
        (lfw_face(0), 1, None),  # soft (25 px enlarged), but a face: good enough
        (two_heads(), 2, Retake.SEVERAL_FACES),
        (sample("coffee"), 0, Retake.NO_FACE),
        (noise(640, 480), 0, Retake.NO_FACE),
        (gradient(800, 600), 0, Retake.BLURRED),
        (ASTRONAUT.filter(ImageFilter.GaussianBlur(6)), 0, Retake.BLURRED),
        (darkened(ASTRONAUT), None, Retake.DARK),
    ],
    ids=[
        "astronaut",
        "astronaut-400",
        "head",
        "lfw",
        "two-heads",
        "coffee",
        "noise",
        "gradient",
        "blurred",
        "dark",
    ],
)
def test_the_quick_look_on_arrival_asks_again_for_unclear_selfies(
    image: Image.Image, faces: int | None, reason: Retake | None
) -> None:
    photo = normalise_photo(encode(image, quality=70))
    counted = FaceCounter().count(photo.jpeg)
    if faces is not None:
        assert counted == faces
    assert retake_reason(dataclasses.replace(photo, faces=counted)) == reason
    assert retake_reason(photo) in (None, Retake.DARK)  # not counted: only the light judged


@pytest.mark.parametrize(
    "image",
    [noise(640, 480), gradient(800, 600), sample("coffee")],
    ids=["noise", "gradient", "coffee"],
)
def test_photos_without_a_face_are_flagged_no_face(
    analyzer: FaceAnalyzer, image: Image.Image
) -> None:
    check = check_selfie(encode(image), analyzer, reference=[0.0] * 128, earlier_hashes=[])
    assert (check.check.faces, check.check.encoding, check.check.distance) == (0, None, None)
    assert check.check.flags == {Flag.NO_FACE}


def test_two_people_are_flagged_several_faces(analyzer: FaceAnalyzer) -> None:
    check = check_selfie(encode(two_heads()), analyzer, reference=[0.0] * 128, earlier_hashes=[])
    assert (check.check.faces, check.check.encoding, check.check.distance) == (2, None, None)
    assert check.check.flags == {Flag.SEVERAL_FACES}


def encoding_of(image: Image.Image, analyzer: FaceAnalyzer) -> tuple[float, ...]:
    """The descriptor of the single face in `image`."""
    report = analyzer.analyse(normalise_photo(encode(image)).jpeg)
    assert report.faces == 1 and report.encoding is not None
    return report.encoding


def test_another_person_is_a_mismatch_and_the_same_person_is_not(
    analyzer: FaceAnalyzer,
) -> None:
    selfie = encode(ASTRONAUT, quality=90)
    stranger = encoding_of(lfw_face(0), analyzer)
    other = check_selfie(selfie, analyzer, stranger, []).check
    assert other.distance is not None and other.distance > 0.6
    assert other.flags == {Flag.MISMATCH}

    # Mirrored and framed differently: the same woman, and not the same picture.
    mirrored = ASTRONAUT.transpose(Image.Transpose.FLIP_LEFT_RIGHT).crop((150, 0, 450, 300))
    herself = encoding_of(mirrored, analyzer)
    same = check_selfie(selfie, analyzer, herself, [normalise_photo(encode(mirrored)).dhash]).check
    assert same.distance is not None and same.distance < 0.4
    assert same.flags == frozenset()
    assert face_distance(herself, herself) == 0.0


def test_one_analyzer_serves_several_threads_with_the_same_results(
    analyzer: FaceAnalyzer,
) -> None:
    photos = [normalise_photo(encode(image)).jpeg for image in (ASTRONAUT, HEAD, lfw_face(1))]
    alone = [analyzer.analyse(photo) for photo in photos]
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(analyzer.analyse, photos * 2))
    assert together == alone * 2
