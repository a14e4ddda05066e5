"""Media inputs: a path, bytes, or a binary file object, read lazily and re-readable.

A multipart body is rebuilt for every attempt, so each :class:`MediaFile` can open its data
more than once (a file object is rewound to where it started).
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeAlias, cast

import attrs

from .errors import InvalidRequestError

__all__ = ["FileInput", "MediaFile", "media_file"]

FileInput: TypeAlias = (
    str
    | os.PathLike[str]
    | bytes
    | bytearray
    | memoryview
    | BinaryIO
    | tuple[str, "bytes | bytearray | memoryview | BinaryIO"]
)
"""What ``file=`` accepts: a filesystem path, the bytes themselves, a binary file object, or
a ``(filename, bytes_or_file)`` pair (handy for batches of in-memory media)."""

MB = 1024 * 1024


@attrs.frozen
class MediaFile:
    """One file to upload: its name (the API reads the extension), size if known, and data."""

    filename: str
    size: int | None
    _data: bytes | None = attrs.field(default=None, alias="data", repr=False)
    _path: Path | None = attrs.field(default=None, alias="path", repr=False)
    _fileobj: IO[bytes] | None = attrs.field(default=None, alias="fileobj", repr=False)
    _start: int = attrs.field(default=0, alias="start", repr=False)

    @property
    def pipe_fd(self) -> int | None:
        """The descriptor of a file object that is a pipe or socket (not a regular file),
        which must be read without blocking a thread; else None."""
        if self._fileobj is None:
            return None
        try:
            fd = self._fileobj.fileno()
            return None if stat.S_ISREG(os.fstat(fd).st_mode) else fd
        except (AttributeError, OSError, ValueError):
            return None

    @property
    def suffix(self) -> str:
        """The lower-cased extension, with the dot (``.wav``), or ``""``."""
        return Path(self.filename).suffix.lower()

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """A fresh readable stream of the whole file, closed (or rewound) afterwards."""
        if self._data is not None:
            yield io.BytesIO(self._data)
        elif self._path is not None:
            with _open_regular(self._path, self.size) as handle:
                yield handle
        else:
            assert self._fileobj is not None
            if self._fileobj.seekable():
                self._fileobj.seek(self._start)
            yield cast(IO[bytes], _NoClose(self._fileobj))


@contextmanager
def _open_regular(path: Path, size: int | None) -> Iterator[IO[bytes]]:
    """Open ``path`` for reading without ever blocking the event loop, and check that what
    was opened is still the regular file that was measured.

    Between the check in :func:`media_file` and the upload the path may have been
    replaced (by a FIFO, whose plain ``open()`` would block until a writer appears):
    ``O_NONBLOCK`` makes the open itself return at once, and ``fstat`` on the opened
    descriptor tells what it really is.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InvalidRequestError(f"cannot open {str(path)!r}: {exc}") from None
    try:
        _check_opened(path, os.fstat(fd), size)
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def _check_opened(path: Path, info: os.stat_result, size: int | None) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise InvalidRequestError(
            f"{str(path)!r} is no longer a regular file (it was replaced after it was "
            "checked): refusing to upload it"
        )
    if size is not None and info.st_size != size:
        raise InvalidRequestError(
            f"{str(path)!r} changed size while it was being sent ({size} -> "
            f"{info.st_size} bytes); upload it again once it is complete"
        )


class _NoClose(io.RawIOBase):
    """A view of a caller's file object that aiohttp may close without closing the original."""

    def __init__(self, inner: IO[bytes]) -> None:
        super().__init__()
        self._inner = inner
        self.name = getattr(inner, "name", None)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._inner.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _check_filename(name: object, what: str) -> None:
    """A filename travels in a multipart header: a plain, printable string."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequestError(f"{what}: filename must be a non-empty string, got {name!r}")
    if not name.isprintable():
        raise InvalidRequestError(f"{what}: filename {name!r} contains control characters")


def media_file(source: Any, *, filename: str | None = None, what: str = "file") -> MediaFile:
    """Normalise a :data:`FileInput` into a :class:`MediaFile`, or raise InvalidRequestError.

    The API infers the media type from the file extension (API notes §14), so bytes and nameless
    file objects need ``filename=``.
    """
    if filename is not None:
        _check_filename(filename, what)
    if isinstance(source, tuple):
        if len(source) != 2 or not isinstance(source[0], str):
            raise InvalidRequestError(f"{what}: a tuple must be (filename, bytes_or_file)")
        return media_file(source[1], filename=filename or source[0], what=what)
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if not filename:
            raise InvalidRequestError(
                f"{what} was given as bytes: pass filename= (e.g. 'clip.wav') so the API can "
                "tell the media type from its extension"
            )
        if not data:
            raise InvalidRequestError(f"{what} is empty (0 bytes): nothing to analyse")
        return MediaFile(filename, len(data), data=data)
    if isinstance(source, str | os.PathLike):
        path = Path(os.fspath(source))
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise InvalidRequestError(f"{what}: no such file: {str(path)!r}") from None
        except OSError as exc:
            raise InvalidRequestError(f"{what}: cannot read {str(path)!r}: {exc}") from None
        if not path.is_file():
            raise InvalidRequestError(f"{what}: {str(path)!r} is not a regular file")
        if stat.st_size == 0:
            raise InvalidRequestError(f"{what}: {str(path)!r} is empty (0 bytes)")
        name = filename or path.name
        _check_filename(name, what)
        return MediaFile(name, stat.st_size, path=path)
    if hasattr(source, "read"):
        if isinstance(source, io.TextIOBase):
            raise InvalidRequestError(f"{what}: open the file in binary mode ('rb'), not text mode")
        if getattr(source, "closed", False):
            raise InvalidRequestError(f"{what}: the file object is closed")
        name = filename or os.path.basename(str(getattr(source, "name", "") or ""))
        if not name:
            raise InvalidRequestError(
                f"{what} is a file object without a name: pass filename= (e.g. 'clip.mp4')"
            )
        _check_filename(name, what)
        size: int | None = None
        start = 0
        if source.seekable():
            start = source.tell()
            size = source.seek(0, io.SEEK_END) - start
            source.seek(start)
            if size == 0:
                raise InvalidRequestError(f"{what}: the file object has no data left to read")
        return MediaFile(name, size, fileobj=source, start=start)
    raise InvalidRequestError(
        f"{what} must be a path, bytes, or a binary file object, not {type(source).__name__}"
    )
