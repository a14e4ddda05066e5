"""Soak: a detect_many job in a subprocess, killed with SIGKILL again and again, never bills twice.

The fake Detect API runs in the test process and injects faults the whole time (429s, 5xx
before and after creating, dropped connections before and after creating, slow answers,
failing polls and listings). A child process runs ``client.detect_many(urls,
journal=...)``; the test kills it with SIGKILL at random moments, restarts it, and finally
lets it finish. Then every input must have exactly one outcome in the JSONL export, and no
URL may have been created twice on the fake.

Run this file directly (``python tests/test_jobs_soak.py child ...``) to be the child.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import random
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from resemble_detect_async import (
    DetectClient,
    PollPolicy,
    ReconcilePolicy,
    RetryPolicy,
    Timeouts,
)
from resemble_detect_async.testing import FakeDetectAPI, Fault

SEED = 20_260_412
INPUTS = 400
KILLS = 5
FAULT_EVERY = (3, 10)  # requests between two injected faults
KILL_AFTER = (0.05, 2.5)  # seconds after a child is ready (its imports take ~1 s more)
FINAL_RUN_LIMIT = 120.0  # a guard against a hang; the final run takes 10-20 s
RATE = 400.0  # requests per second of the child: a run takes seconds, so kills land mid-way

# What goes wrong, and how often (weights). POST /detect faults before the handler create
# nothing; after_handler ones create the detection and then lose or spoil the answer.
POST, POLL, LIST = ("POST", "/detect"), ("GET", "/detect/[^/]+"), ("GET", "/detect")
FAULTS: list[tuple[int, Fault]] = [
    (6, Fault.rate_limited(0.05, method=POST[0], path=POST[1])),
    (3, Fault.error(503, method=POST[0], path=POST[1])),
    (3, Fault.error(500, method=POST[0], path=POST[1], after_handler=True)),
    (3, Fault.drop(method=POST[0], path=POST[1])),
    (3, Fault.drop(method=POST[0], path=POST[1], after_handler=True)),
    (2, Fault.html(502, method=POST[0], path=POST[1])),
    (2, Fault.slow(0.3, method=POST[0], path=POST[1])),
    (2, Fault.slow(0.3, method=POST[0], path=POST[1], after_handler=True)),
    (4, Fault.error(500, method=POLL[0], path=POLL[1])),
    (3, Fault.drop(method=POLL[0], path=POLL[1])),
    (2, Fault.slow(0.2, method=POLL[0], path=POLL[1])),
    (2, Fault.rate_limited(0.05, method=POLL[0], path=POLL[1])),
    (1, Fault.error(500, method=LIST[0], path=LIST[1])),
    (1, Fault.drop(method=LIST[0], path=LIST[1])),
]


def _urls() -> list[str]:
    """Unique URLs; every 40th names a failing media (the fake fails names with "fail")."""
    return [
        f"https://media.example/{'fail' if i % 40 == 39 else 'clip'}-{i:04d}.wav"
        for i in range(INPUTS)
    ]


async def _child(base_url: str, api_key: str, journal: str, inputs: str) -> int:
    """The job, as a user would write it (with short waits: the fake answers at once)."""
    urls = Path(inputs).read_text().split()  # noqa: ASYNC240 - before the loop has work
    print("ready", flush=True)  # imports done: the test's random kill clock starts now
    async with DetectClient(
        api_key,
        base_url=base_url,
        retry=RetryPolicy(attempts=6, initial=0.01, max_wait=0.1, timeout=10.0),
        poll=PollPolicy(initial=0.02, max_interval=0.1, jitter=0.1, timeout=30.0),
        timeouts=Timeouts(connect=2.0, read=5.0),
        max_concurrency=16,
        rate_limit=RATE,
    ) as client:
        stream = client.detect_many(
            urls,
            journal=journal,
            reconcile=ReconcilePolicy(settle=0.3, max_request_seconds=15.0),
        )
        async with stream:
            async for _ in stream:
                pass
    return 0


def _query(journal: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read the journal the way a user would (the child is dead: nobody else has it open)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=rw", uri=True)) as db:
            return db.execute(sql).fetchall()
    except sqlite3.OperationalError:  # killed before the file or its table was created
        return []


async def _inject_faults(fake: FakeDetectAPI, rng: random.Random) -> None:
    """One fault every few requests (FAULT_EVERY), so faults follow the traffic; at most
    one pending per kind of request, so a retry can get through (as with a real blip)."""
    weights = [weight for weight, _ in FAULTS]
    due = rng.randint(*FAULT_EVERY)
    while True:
        await asyncio.sleep(0.005)
        if len(fake.requests) < due:
            continue
        fault = rng.choices([fault for _, fault in FAULTS], weights)[0]
        pending = {(f.method, f.path) for f in fake.faults}
        if (fault.method, fault.path) not in pending:
            fake.inject(fault)
        due = len(fake.requests) + rng.randint(*FAULT_EVERY)


async def _start_child(fake: FakeDetectAPI, tmp_path: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "child",
        "--base-url",
        fake.base_url,
        "--api-key",
        fake.api_key,
        "--journal",
        str(tmp_path / "job.db"),
        "--inputs",
        str(tmp_path / "inputs.txt"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_kill_9_at_random_moments_never_bills_twice(tmp_path: Path) -> None:
    """Killed 5 times by SIGKILL under faults: one outcome per input, zero duplicates."""
    rng = random.Random(SEED)
    urls = _urls()
    (tmp_path / "inputs.txt").write_text("\n".join(urls) + "\n")
    journal = tmp_path / "job.db"
    started = time.monotonic()
    report: dict[str, object] = {"inputs": INPUTS}
    async with FakeDetectAPI(polls_to_complete=1) as fake:
        injector = asyncio.create_task(_inject_faults(fake, rng))
        try:
            kills, journal_at_kills = 0, []
            for _ in range(KILLS):
                child = await _start_child(fake, tmp_path)
                assert child.stdout is not None
                await asyncio.wait_for(child.stdout.readline(), 30)
                try:
                    await asyncio.wait_for(child.wait(), rng.uniform(*KILL_AFTER))
                except TimeoutError:
                    child.send_signal(signal.SIGKILL)
                    kills += 1
                _, stderr = await child.communicate()
                assert child.returncode in (0, -signal.SIGKILL), stderr.decode()[-2000:]
                states = dict(_query(journal, "SELECT state, count(*) FROM inputs GROUP BY 1"))
                journal_at_kills.append(states)
            child = await _start_child(fake, tmp_path)
            final_started = time.monotonic()
            _, stderr = await asyncio.wait_for(child.communicate(), FINAL_RUN_LIMIT)
            report["final_run_seconds"] = round(time.monotonic() - final_started, 1)
            assert child.returncode == 0, stderr.decode()[-3000:]
        finally:
            injector.cancel()
            await asyncio.gather(injector, return_exceptions=True)

        lines = (tmp_path / "job.jsonl").read_text().splitlines()
        outcomes = [json.loads(line) for line in lines]
        # Every input has exactly one outcome, for its own URL.
        assert sorted(o["index"] for o in outcomes) == list(range(INPUTS))
        assert all(o["input"]["url"] == urls[o["index"]] for o in outcomes)
        # Zero duplicates: each URL was created at most once, and each success is that one.
        created = collections.Counter(d.url for d in fake.detections.values())
        duplicates = {url: n for url, n in created.items() if n > 1}
        assert duplicates == {}
        assert set(created) <= set(urls)
        for o in outcomes:
            if o["uuid"] is not None:
                assert fake.detections[o["uuid"]].url == urls[o["index"]]
        kinds = collections.Counter(_kind(o) for o in outcomes)
        for o in outcomes:
            url = urls[o["index"]]
            if _kind(o) == "not created":  # refused, or kept failing: pending, nothing exists
                assert o["uuid"] is None and created[url] == 0, o
            if _kind(o) == "failed media":
                assert "/fail-" in url, o
            if _kind(o) == "ok":
                assert "/fail-" not in url, o
        assert set(kinds) <= {"ok", "failed media", "in doubt", "not created"}, kinds
        [(posts, resent, adopted)] = _query(
            journal, "SELECT sum(posts), sum(posts > 1), sum(origin = 'adopted') FROM inputs"
        )
        report.update(
            kills=kills,
            in_doubt_at_each_kill=[
                states.get("sending", 0) + states.get("in_doubt", 0) for states in journal_at_kills
            ],
            journal_at_each_kill=journal_at_kills,
            outcomes=len(outcomes),
            **{kind.replace(" ", "_"): kinds[kind] for kind in sorted(kinds)},
            detections=len(fake.detections),
            duplicates=sum(n - 1 for n in created.values()),
            posts_started=posts,
            inputs_sent_more_than_once=resent,
            adopted=adopted,
            post_requests_seen=sum(
                1 for r in fake.requests if r.method == "POST" and r.path == "/detect"
            ),
            requests_failed=sum(1 for r in fake.requests if r.status != 200),
            seconds=round(time.monotonic() - started, 1),
        )
        print("\nsoak:", json.dumps(report))
        assert kills >= 3  # the kills are random, but most land while the job runs
        # Unique URLs are never ambiguous, and a listing gets through a blip on retry.
        assert kinds["in doubt"] == 0


def _kind(outcome: dict[str, Any]) -> str:
    """ok, failed media (the fake fails "fail" names), in doubt, or not created."""
    if outcome["ok"]:
        return "ok"
    kind = outcome["error"]["type"]
    if kind == "DetectionFailedError":
        return "failed media"
    if kind == "InDoubtError":
        return "in doubt"
    if outcome["state"] == "pending":
        return "not created"
    return f"{kind} in state {outcome['state']}"


def main(argv: list[str] | None = None) -> int:
    """``python tests/test_jobs_soak.py child ...``: one run of the job."""
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["child"])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--journal", required=True)
    parser.add_argument("--inputs", required=True)
    args = parser.parse_args(argv)
    return asyncio.run(_child(args.base_url, args.api_key, args.journal, args.inputs))


if __name__ == "__main__":
    sys.exit(main())
