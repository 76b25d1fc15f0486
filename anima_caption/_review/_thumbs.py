"""Bounded thumbnails that never decode a huge image at full size.

JPEG files are decoded at 1/2, 1/4 or 1/8 scale straight from the DCT data
(:meth:`PIL.Image.Image.draft`); other formats are reduced in integer steps while
shrinking (``reducing_gap``). Formats that cannot be decoded at a smaller scale are refused
above a pixel budget instead of being decoded at full size. Every failure becomes a
one-line message: a broken image never stops an export or a report.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Images whose decoded size (after JPEG draft scaling) exceeds this are not thumbnailed:
#: decoding them would need gigabytes of memory. Pillow's own bomb guard is 89 MP.
MAX_DECODE_PIXELS = 120_000_000

#: Any image whose header claims more pixels than this is refused before decoding, even
#: a JPEG that could be decoded at 1/8 scale: no training image is that large, and a file
#: of a few hundred bytes can claim 65500×65500.
MAX_HEADER_PIXELS = 500_000_000
#: A progressive JPEG is refused above this many pixels: libjpeg keeps the coefficients of
#: the whole image (about 2 bytes per sample) whatever scale it decodes at, so draft mode
#: does not make it cheap: 50 MP is about 300 MB.
MAX_PROGRESSIVE_PIXELS = 50_000_000

_PIL_LIMIT_LOCK = threading.Lock()


@dataclass(frozen=True)
class Thumbnail:
    """A thumbnail's encoded bytes, or why there is none."""

    data: bytes | None
    """Encoded image (``fmt``) or None when the image could not be thumbnailed."""
    fmt: str
    """``jpeg`` or ``png`` (png when the image has transparency)."""
    width: int
    height: int
    original: tuple[int, int] | None
    """The image's full size in pixels, when its header could be read."""
    error: str | None = None
    """One-line reason when ``data`` is None."""

    @property
    def mime(self) -> str:
        """The MIME type of ``data``."""
        return f"image/{self.fmt}"


def make_thumbnail(path: Path, box: int = 160, *, max_pixels: int = MAX_DECODE_PIXELS) -> Thumbnail:
    """A thumbnail of ``path`` fitting in ``box`` × ``box`` pixels (aspect ratio kept)."""
    from PIL import Image, UnidentifiedImageError

    original: tuple[int, int] | None = None
    try:
        with _no_pillow_bomb_check():
            opened = Image.open(path)  # reads the header only
        with opened as image:
            original = image.size
            refusal = _header_refusal(image, max_pixels)
            if refusal is not None:
                return _failed(original, refusal)
            if image.format == "JPEG":
                # Decode at the smallest DCT scale that still covers the box.
                image.draft("RGB", (box, box))
            decoded = image.size[0] * image.size[1]
            if decoded > max_pixels:
                width, height = original
                return _failed(
                    original,
                    f"image is {width}×{height} pixels; {image.format or 'this format'} cannot "
                    f"be decoded at a smaller scale and {decoded:,} pixels exceed the "
                    f"{max_pixels:,}-pixel limit (decompression-bomb guard)",
                )
            image.thumbnail((box, box), reducing_gap=2.0)
            return _encode(image, original)
    except UnidentifiedImageError:
        return _failed(original, "not an image Pillow can read (unknown or damaged format)")
    except FileNotFoundError:
        return _failed(original, "image file not found")
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        # Pillow raises SyntaxError/ValueError for some damaged headers and OSError for
        # truncated data.
        return _failed(original, f"cannot decode image: {error}")
    except MemoryError:
        return _failed(original, "not enough memory to decode the image")


def _header_refusal(image: object, max_pixels: int) -> str | None:
    """Why an image must not be decoded, judged from its header alone (or None)."""
    from PIL import Image

    assert isinstance(image, Image.Image)
    width, height = image.size
    pixels = width * height
    what = f"image is {width}×{height} pixels"
    if pixels > max(MAX_HEADER_PIXELS, max_pixels):
        return f"{what}: over {MAX_HEADER_PIXELS:,} pixels, not decoded (decompression-bomb guard)"
    progressive = image.info.get("progressive") or image.info.get("progression")
    if image.format == "JPEG" and progressive and pixels > min(MAX_PROGRESSIVE_PIXELS, max_pixels):
        return (
            f"{what}, a progressive JPEG: decoding it at any scale holds the whole image "
            f"in memory, and {pixels:,} pixels exceed the limit (decompression-bomb guard)"
        )
    return None


def make_thumbnails(
    paths: Sequence[Path | None],
    box: int,
    make: Callable[[Path, int], Thumbnail] | None = None,
    *,
    workers: int = 0,
) -> Iterator[Thumbnail | None]:
    """Thumbnails of ``paths`` in order (None for None), decoded in a few threads: Pillow
    releases the GIL while decoding, so big datasets go faster on several cores."""
    from concurrent.futures import ThreadPoolExecutor

    function = make or make_thumbnail
    count = workers or min(4, os.cpu_count() or 1)

    def one(path: Path | None) -> Thumbnail | None:
        return function(path, box) if path is not None else None

    if count <= 1 or len(paths) < 8:
        yield from map(one, paths)
        return
    with ThreadPoolExecutor(max_workers=count) as pool:
        yield from pool.map(one, paths)


def _encode(image: object, original: tuple[int, int]) -> Thumbnail:
    from PIL import Image

    assert isinstance(image, Image.Image)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    out = io.BytesIO()
    if has_alpha:
        converted = image.convert("RGBA")
        converted.save(out, format="PNG", optimize=True)
        fmt = "png"
    else:
        converted = image.convert("RGB")
        converted.save(out, format="JPEG", quality=82)
        fmt = "jpeg"
    return Thumbnail(out.getvalue(), fmt, converted.width, converted.height, original)


def _failed(original: tuple[int, int] | None, message: str) -> Thumbnail:
    return Thumbnail(None, "png", 0, 0, original, message)


@contextlib.contextmanager
def _no_pillow_bomb_check() -> Iterator[None]:
    """Replace Pillow's bomb check (which refuses before JPEG draft scaling could make a
    big file cheap) with :data:`MAX_DECODE_PIXELS`, checked after scaling."""
    from PIL import Image

    with _PIL_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved
