"""``resemble-detect demo``: the whole flow against the embedded fake API, no key needed.

It submits generated media (voice clips, images, a video, and one file that fails),
waits for every result at once with the progress display, and prints the verdicts. With
``--live`` it runs the same flow against the real API for the ``--url``\\ s given.
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import struct
import wave
import zlib
from collections.abc import Sequence

import click

from resemble_detect_async import DetectClient, PollPolicy
from resemble_detect_async.testing import FakeDetectAPI

from ._exit import ExitCode, Failure
from ._output import Row, console, detection_table, row_from_outcome, show
from ._progress import ProgressDisplay
from ._runtime import NO_KEY_MESSAGE, run, runtime

__all__ = ["command", "demo_media", "run_demo"]


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
            files.append((f"photo-{i:02d}.png", _png(8, 40 + (10 * i) % 200)))
        elif i % 7 == 5:
            files.append((f"interview-{i:02d}.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(64)))
        else:
            files.append((f"voicemail-{i:02d}.wav", _wav(0.25, 220 + 40 * i)))
    return files


async def run_demo(
    client: DetectClient,
    media: Sequence[tuple[str, bytes]],
    urls: Sequence[str],
) -> ExitCode:
    """Submit, wait for everything at once with progress, print the verdicts."""
    out = console()
    settings = runtime()
    started = settings.monotonic()
    names = [name for name, _ in media] + [url.rsplit("/", 1)[-1] or url for url in urls]
    submissions = [client.create_detection(file=(name, data)) for name, data in media]
    submissions += [client.create_detection(url=url) for url in urls]
    out.print(f"Submitting {len(submissions)} files...")
    rows: list[Row] = []
    uuids: list[str] = []
    submitted: list[str] = []
    created = await asyncio.gather(*submissions, return_exceptions=True)
    for name, result in zip(names, created, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            rows.append(Row(name=name, error=result))  # shown in the table; the others go on
            continue
        uuids.append(result.uuid)
        submitted.append(name)
    out.print(f"Waiting for {len(uuids)} results concurrently...")
    # The demo shows its progress on stdout with everything else: it is the show.
    with ProgressDisplay(
        "waiting",
        len(uuids),
        console=out,
        monotonic=settings.monotonic,
        every=settings.progress_every,
    ) as display:
        async with client.iter_results(uuids, wait=True, on_progress=display) as stream:
            outcomes = [outcome async for outcome in stream]
    outcomes.sort(key=lambda outcome: outcome.index)
    rows += [row_from_outcome(outcome, submitted[outcome.index]) for outcome in outcomes]
    out.print()
    out.print("Verdicts:")
    show(out, detection_table(rows, name_header="FILE"))
    fakes = sum(1 for o in outcomes if o.ok and o.detection is not None and o.detection.is_fake)
    failed = sum(1 for o in outcomes if not o.ok)
    elapsed = settings.monotonic() - started
    out.print(
        f"{len(uuids)} results in {elapsed:.1f} s: {fakes} fake, "
        f"{len(uuids) - fakes - failed} not fake, {failed} failed."
    )
    return ExitCode.OK


async def _demo(
    *, count: int, concurrency: int, seconds: float, live: bool, urls: tuple[str, ...]
) -> ExitCode:
    if live:
        if not os.environ.get("RESEMBLE_API_KEY", "").strip():
            raise Failure(f"--live needs an API key. {NO_KEY_MESSAGE}", ExitCode.NO_KEY)
        if not urls:
            raise Failure("--live needs at least one --url of public media", ExitCode.USAGE)
        async with DetectClient() as client:
            console().print(f"Using the live API at {client.base_url}")
            return await run_demo(client, (), urls)
    poll = PollPolicy(initial=0.5, multiplier=1.5, max_interval=2.0, jitter=0.2, timeout=120)
    async with FakeDetectAPI(seconds_to_complete=seconds) as fake:
        console().print(
            f"No key needed: using the embedded fake Detect API at {fake.base_url}\n"
            "(set RESEMBLE_API_KEY and pass --live --url ... to use the real service)\n"
        )
        async with DetectClient(
            api_key=fake.api_key,
            base_url=fake.base_url,
            poll=poll,
            max_concurrency=concurrency,
        ) as client:
            return await run_demo(client, demo_media(count), urls)


@click.command("demo", short_help="Try everything on the built-in fake API (no key needed).")
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=24,
    show_default=True,
    help="Files to submit.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="How long the fake API takes per file.",
)
@click.option("--live", is_flag=True, help="Use the real API (needs RESEMBLE_API_KEY and --url).")
@click.option(
    "--url", "urls", multiple=True, metavar="URL", help="Public media URL to add (repeatable)."
)
def command(count: int, concurrency: int, seconds: float, live: bool, urls: tuple[str, ...]) -> int:
    """Run the whole flow on the embedded fake Detect API (no key, no network).

    Submits generated media (voice clips, images, a video, and one file that fails), waits
    for every result at once with a progress display, and prints the verdicts.
    """
    return run(_demo(count=count, concurrency=concurrency, seconds=seconds, live=live, urls=urls))
