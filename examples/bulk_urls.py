"""A bulk job over a file of media URLs: submit each within the API's limits, wait for all.

    python examples/bulk_urls.py urls.txt --out results.jsonl

``urls.txt`` has one public media URL per line (blank lines and ``#`` comments skipped).
Without RESEMBLE_API_KEY the job runs against the embedded fake Detect API, and without a
file on a few dozen made-up URLs, so you can watch it work first.

Submitting: a small, fixed pool of workers calls ``create_detection`` for one URL after
another. Every request goes through the client's limits (32 in flight, 40 starts per second,
a 429 pauses them all), so the pool size only bounds how many submissions are pending at
once. The SDK never retries a creating POST that may have reached the API (it would bill
twice), so a URL whose submission failed is reported here, not resubmitted blindly.

Waiting: ``wait_for_many`` polls every detection at once with growing intervals and returns
one ``Outcome`` per uuid, in input order; a failed analysis or a timeout sinks only its own
item. The outcomes are written as JSON Lines (``Outcome.to_dict()`` plus the URL).

This example will switch to ``client.detect_many(...)``, the bulk-job API that submits,
waits and journals in one call and resumes after a stop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from resemble_detect_async import DetectClient, Outcome, Progress, ResembleError
from resemble_detect_async.testing import FakeDetectAPI, fake_client

SUBMIT_WORKERS = 16  # submissions pending at once; the client's own limits still apply


@contextlib.asynccontextmanager
async def detect_client() -> AsyncIterator[DetectClient]:
    """The real API when RESEMBLE_API_KEY is set, else the embedded fake Detect API."""
    if os.environ.get("RESEMBLE_API_KEY"):
        async with DetectClient() as client:
            yield client
        return
    async with FakeDetectAPI() as fake, fake_client(fake) as client:
        print(f"RESEMBLE_API_KEY is not set: using the fake Detect API at {fake.base_url}")
        yield client


def read_urls(path: Path) -> list[str]:
    """One URL per line; blank lines and # comments are skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def sample_urls(count: int = 40) -> list[str]:
    """Made-up URLs for a first run on the fake API (names with "fail" fail there)."""
    urls = [f"https://media.example.com/calls/call-{i:03d}.wav" for i in range(count - 1)]
    return [*urls, "https://media.example.com/calls/failing-upload.wav"]


@dataclass(frozen=True)
class Submission:
    """One URL and what came of submitting it: a uuid, or the error."""

    url: str
    uuid: str | None = None
    error: ResembleError | None = None


async def submit_all(
    client: DetectClient, urls: Sequence[str], *, workers: int = SUBMIT_WORKERS
) -> list[Submission]:
    """Submit every URL with a fixed pool of workers; one Submission per URL, in order."""
    results: list[Submission] = [Submission(url) for url in urls]
    queue = iter(enumerate(urls))  # shared: each worker takes the next URL when it is free

    async def worker() -> None:
        for index, url in queue:
            try:
                created = await client.create_detection(url=url)
            except ResembleError as err:  # e.g. 400 bad URL, 402 balance: this URL only
                results[index] = Submission(url, error=err)
            else:
                results[index] = Submission(url, uuid=created.uuid)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(workers, len(urls))):
            group.create_task(worker())
    return results


def show_progress(progress: Progress) -> None:
    """One line per tenth of the work (an on_progress callback)."""
    step = max(1, (progress.total or 0) // 10)
    if progress.done % step == 0 or progress.done == progress.total:
        print(f"  {progress.done}/{progress.total} done, {progress.failed} failed")


async def run_job(client: DetectClient, urls: Sequence[str], out: Path | None) -> int:
    """Submit, wait, write and summarise; the exit status is 1 if anything failed."""
    print(f"Submitting {len(urls)} URLs...")
    submissions = await submit_all(client, urls)
    submitted = [s for s in submissions if s.uuid is not None]
    for refused in (s for s in submissions if s.error is not None):
        print(f"  not submitted: {refused.url}: {refused.error}")

    print(f"Waiting for {len(submitted)} results...")
    uuids = [s.uuid for s in submitted if s.uuid is not None]
    outcomes = await client.wait_for_many(uuids, timeout=1800, on_progress=show_progress)

    fakes = [o for o in outcomes if o.ok and o.detection is not None and o.detection.is_fake]
    failed = [o for o in outcomes if not o.ok]
    if out is not None:
        write_jsonl(out, submitted, outcomes)
        print(f"Wrote {len(outcomes)} results to {out}")
    for outcome in failed:
        print(f"  failed: {submitted[outcome.index].url}: {outcome.error}")
    print(
        f"{len(outcomes)} analysed: {len(fakes)} fake, "
        f"{len(outcomes) - len(fakes) - len(failed)} not fake, {len(failed)} failed; "
        f"{len(submissions) - len(submitted)} not submitted."
    )
    return 1 if failed or len(submitted) < len(submissions) else 0


def write_jsonl(path: Path, submitted: Sequence[Submission], outcomes: Sequence[Outcome]) -> None:
    """One line per result: ``Outcome.to_dict()`` and the URL it came from."""
    with path.open("w", encoding="utf-8") as out:
        for outcome in outcomes:
            line = {"url": submitted[outcome.index].url, **outcome.to_dict()}
            out.write(json.dumps(line) + "\n")


async def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments and run the job on the real API or the fake one."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("urls", nargs="?", type=Path, help="file of URLs, one per line")
    parser.add_argument("--out", type=Path, help="write the results as JSON Lines here")
    args = parser.parse_args(argv)
    urls = read_urls(args.urls) if args.urls else sample_urls()
    async with detect_client() as client:
        return await run_job(client, urls, args.out)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
