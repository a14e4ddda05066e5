"""``resemble-detect``: a thin command line over the public API.

``resemble-detect demo`` submits a set of generated media files to the embedded fake Detect
API (no key needed), waits for every result concurrently with a progress bar, and prints
the verdicts. With ``--live`` it runs the same flow against the real API for ``--url``s.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import os
import struct
import sys
import time
import wave
import zlib
from collections.abc import Sequence
from typing import TextIO

from . import DetectClient, Outcome, PollPolicy, Progress, ResembleError, __version__
from .testing import FakeDetectAPI

__all__ = ["main"]


def _wav(seconds: float, frequency: float) -> bytes:
    """A short mono 16 kHz sine tone as WAV bytes."""
    rate = 16_000
    frames = b"".join(
        struct.pack("<h", int(12_000 * math.sin(2 * math.pi * frequency * i / rate)))
        for i in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


def _png(size: int, shade: int) -> bytes:
    """A tiny grey PNG."""
    raw = b"".join(b"\x00" + bytes([shade]) * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def demo_media(count: int) -> list[tuple[str, bytes]]:
    """``count`` in-memory media files: voice clips, images, a video, and one that fails."""
    files: list[tuple[str, bytes]] = []
    for i in range(count):
        if i == count - 1 and count > 2:
            files.append((f"fail-corrupt-{i:02d}.wav", b"RIFF\x00\x00\x00\x00WAVE"))
        elif i % 5 == 3:
            files.append((f"photo-{i:02d}.png", _png(8, 40 + 10 * i)))
        elif i % 7 == 5:
            files.append((f"interview-{i:02d}.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(64)))
        else:
            files.append((f"voicemail-{i:02d}.wav", _wav(0.25, 220 + 40 * i)))
    return files


class ProgressBar:
    """A one-line progress bar on a TTY, periodic lines otherwise."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total = total
        self.out = out
        self.tty = out.isatty()
        self._last = -1

    def __call__(self, progress: Progress) -> None:
        done = progress.done
        width = 30
        filled = int(width * done / self.total) if self.total else width
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} done"
            f" · {progress.succeeded} ok · {progress.failed} failed"
        )
        if self.tty:
            self.out.write("\r" + line)
            if done == self.total:
                self.out.write("\n")
        elif done == self.total or done // max(1, self.total // 4) != self._last:
            self._last = done // max(1, self.total // 4)
            self.out.write(line + "\n")
        self.out.flush()


def _row(name: str, outcome: Outcome) -> str:
    if outcome.ok and outcome.detection is not None:
        det = outcome.detection
        score = f"{det.score:.2f}" if det.score is not None else "  - "
        label = det.label or "-"
        return f"  {name:<24} {det.verdict.value.upper():<7} score {score}  label {label!r}"
    error = outcome.error
    reason = getattr(error, "error_message", None) or str(error)
    return f"  {name:<24} {'FAILED':<7} {type(error).__name__}: {reason}"


async def run_demo(
    client: DetectClient,
    media: Sequence[tuple[str, bytes]] | None,
    urls: Sequence[str],
    out: TextIO,
) -> int:
    """Submit, wait for everything concurrently, print verdicts. Returns the exit status."""
    started = time.perf_counter()
    names: list[str] = []
    submissions = []
    for name, data in media or ():
        names.append(name)
        submissions.append(client.create_detection(file=(name, data)))
    for url in urls:
        names.append(url.rsplit("/", 1)[-1] or url)
        submissions.append(client.create_detection(url=url))
    out.write(f"Submitting {len(submissions)} files...\n")
    created = await asyncio.gather(*submissions, return_exceptions=True)
    uuids: list[str] = []
    submitted_names: list[str] = []
    for name, result in zip(names, created, strict=True):
        if isinstance(result, BaseException):
            out.write(f"  {name}: not submitted: {result}\n")
            continue
        uuids.append(result.uuid)
        submitted_names.append(name)
    out.write(f"Waiting for {len(uuids)} results concurrently...\n")
    bar = ProgressBar(len(uuids), out)
    outcomes: list[Outcome | None] = [None] * len(uuids)
    async with client.iter_results(uuids, wait=True, on_progress=bar) as stream:
        async for outcome in stream:
            outcomes[outcome.index] = outcome
    out.write("\nVerdicts:\n")
    fakes = 0
    for name, maybe in zip(submitted_names, outcomes, strict=True):
        assert maybe is not None
        out.write(_row(name, maybe) + "\n")
        fakes += int(maybe.ok and maybe.detection is not None and maybe.detection.is_fake)
    failed = sum(1 for o in outcomes if o is not None and not o.ok)
    elapsed = time.perf_counter() - started
    out.write(
        f"\n{len(uuids)} results in {elapsed:.1f} s: {fakes} fake, "
        f"{len(uuids) - fakes - failed} not fake, {failed} failed.\n"
    )
    return 0


async def _demo(args: argparse.Namespace, out: TextIO) -> int:
    poll = PollPolicy(initial=0.5, multiplier=1.5, max_interval=2.0, jitter=0.2, timeout=120)
    if args.live:
        if not os.environ.get("RESEMBLE_API_KEY"):
            out.write("--live needs RESEMBLE_API_KEY; without it the demo uses the fake API.\n")
            return 2
        if not args.url:
            out.write("--live needs at least one --url of public media to analyse.\n")
            return 2
        async with DetectClient(poll=PollPolicy()) as client:
            out.write(f"Using the live API at {client.base_url}\n")
            return await run_demo(client, None, args.url, out)
    async with FakeDetectAPI(seconds_to_complete=args.seconds) as fake:
        out.write(
            f"No key needed: using the embedded fake Detect API at {fake.base_url}\n"
            "(set RESEMBLE_API_KEY and pass --live --url ... to use the real service)\n\n"
        )
        async with DetectClient(
            api_key=fake.api_key,
            base_url=fake.base_url,
            poll=poll,
            max_concurrency=args.concurrency,
        ) as client:
            return await run_demo(client, demo_media(args.count), args.url, out)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="resemble-detect", description="Resemble Detect API from the command line."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="submit media, wait for all results concurrently, print verdicts"
    )
    demo.add_argument("--count", type=int, default=24, help="files to submit (default 24)")
    demo.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    demo.add_argument(
        "--seconds", type=float, default=2.0, help="fake API processing time per file"
    )
    demo.add_argument("--live", action="store_true", help="use the real API (RESEMBLE_API_KEY)")
    demo.add_argument("--url", action="append", default=[], help="public media URL (repeatable)")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of ``resemble-detect``."""
    args = _parser().parse_args(argv)
    stream = out or sys.stdout
    if args.count < 1 or args.concurrency < 1:
        stream.write("--count and --concurrency must be at least 1\n")
        return 2
    try:
        return asyncio.run(_demo(args, stream))
    except ResembleError as exc:
        stream.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        stream.write("\ninterrupted\n")
        return 130
