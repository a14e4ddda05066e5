"""`resemble-detect run`: a resumable bulk job from the command line, against the fake API.

As in test_cli.py, the command runs in click's CliRunner in a worker thread while the test's
event loop serves a `FakeDetectAPI`, found through RESEMBLE_BASE_URL and RESEMBLE_API_KEY.
Journals are real files in `tmp_path`; the clock of the reconciliation's settling wait is a
`FakeClock`, so a default 60 s settle takes no time.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from resemble_detect_async import DetectClient, JobOutcome, PollPolicy, RetryPolicy
from resemble_detect_async.cli import SUBCOMMANDS, Runtime, app, environment_client
from resemble_detect_async.testing import FakeClock, FakeDetectAPI, Fault

ROOT = Path(__file__).resolve().parent.parent
URLS = [f"https://example.com/clip-{n}.wav" for n in range(3)]
IN_DOUBT_QUERY = "sqlite3 {job} \"select idx,url,note from inputs where state='in_doubt'\""


class Run:
    """Runs `resemble-detect run ARGS` against one fake API, the way a shell would."""

    def __init__(self, fake: FakeDetectAPI, tmp_path: Path) -> None:
        self.fake = fake
        self.job = tmp_path / "job.db"
        self.clock = FakeClock()
        self.runtime = Runtime(make_client=self._client, monotonic=lambda: 0.0)

    def _client(self, **options: Any) -> DetectClient:
        self.clock = FakeClock()  # each run's: reconciliation's settling wait takes no time
        settings: dict[str, Any] = {
            "poll": PollPolicy.no_wait(),
            "retry": RetryPolicy.no_wait(),
            "rate_limit": None,
            "clock": self.clock,
        }
        return environment_client(**(settings | options))

    @property
    def env(self) -> dict[str, str | None]:
        return {
            "RESEMBLE_API_KEY": self.fake.api_key,
            "RESEMBLE_BASE_URL": self.fake.base_url,
            "FORCE_COLOR": None,
            "TTY_COMPATIBLE": None,
            "COLUMNS": None,
            "LINES": None,
        }

    async def __call__(self, *args: str, input: str | None = None) -> Result:
        return await asyncio.to_thread(self.invoke, ["run", *args], input)

    def invoke(self, args: Sequence[str], input: str | None = None) -> Result:
        return CliRunner().invoke(
            app,
            list(args),
            input=input,
            env=self.env,
            obj=self.runtime,
            catch_exceptions=False,
            terminal_width=80,
        )

    def posts(self) -> list[str]:
        """The URL of every POST /detect the fake received (a lost answer included)."""
        return [
            str((request.json or {}).get("url"))
            for request in self.fake.requests
            if request.method == "POST" and request.path == "/detect"
        ]

    def created(self) -> Counter[str | None]:
        """How many detections exist on the fake for each URL."""
        return Counter(detection.url for detection in self.fake.detections.values())


@pytest.fixture
def job(fake: FakeDetectAPI, tmp_path: Path) -> Run:
    """`resemble-detect run` bound to the fake, whose detections complete at the first poll."""
    fake.polls_to_complete = 0
    return Run(fake, tmp_path)


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """A file of three URLs, with a comment and a blank line."""
    path = tmp_path / "urls.txt"
    path.write_text("# three clips\n" + "\n\n".join(URLS) + "\n", encoding="utf-8")
    return path


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def summary_line(result: Result) -> str:
    (line,) = [line for line in result.output.splitlines() if " inputs: " in line]
    return line


def in_doubt_setup(fake: FakeDetectAPI) -> None:
    """The next POST creates its detection but its answer is lost, and the list of detections
    cannot be read: reconciliation cannot tell whether the input was created."""
    fake.inject(Fault.drop(method="POST", path="/detect", after_handler=True))
    fake.inject(Fault.error(500, method="GET", path="/detect", times=None))


# --- the command -------------------------------------------------------------------------------


def test_run_is_registered_and_its_help_says_rerunning_resumes() -> None:
    """`run` is a subcommand, and its --help says that the same command again resumes."""
    assert "_run" in SUBCOMMANDS
    result = CliRunner().invoke(app, ["run", "--help"], terminal_width=80)
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "run the same command again" in text
    assert "--journal JOB" in text and "[required]" in text
    for option in ("--from", "--out", "--no-wait", "--timeout", "--concurrency", "--settle"):
        assert option in text
    assert "--resubmit-in-doubt" in text and "--intelligence" in text


def test_docs_show_the_real_run_help() -> None:
    """docs/cli.md carries the current `run --help` output."""
    docs = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    env = {"FORCE_COLOR": None, "TTY_COMPATIBLE": None, "COLUMNS": None, "LINES": None}
    text = CliRunner().invoke(app, ["run", "--help"], env=env, terminal_width=80).stdout.strip()
    assert text in docs, "docs/cli.md is missing the current `run --help`"


async def test_run_over_a_file_of_urls(job: Run, inputs: Path) -> None:
    """Each URL is submitted once and waited for; the outcomes go to JOB.jsonl in input order."""
    result = await job(str(inputs), "--journal", str(job.job))
    assert result.exit_code == 0, result.output
    assert sorted(job.posts()) == sorted(URLS)
    assert job.created() == Counter(URLS)
    lines = json_lines(job.job.with_suffix(".jsonl").read_text(encoding="utf-8"))
    assert [line["input"]["url"] for line in lines] == URLS
    assert all(line["ok"] and line["state"] == "finished" for line in lines)
    assert summary_line(result) == (
        "3 inputs: 3 ok, 0 failed, 0 in doubt, 0 not created (0 replayed from the journal); "
        f"outcomes in {job.job.with_suffix('.jsonl')}"
    )
    assert "running: 3/3 done" in result.stderr  # the progress display, on stderr


async def test_a_rerun_replays_from_the_journal_without_a_request(
    job: Run, inputs: Path, tmp_path: Path
) -> None:
    """The same command again sends nothing: every outcome is replayed from the journal."""
    assert (await job(str(inputs), "--journal", str(job.job))).exit_code == 0
    job.fake.reset_counters()
    out = tmp_path / "again.jsonl"
    result = await job(str(inputs), "--journal", str(job.job), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert job.fake.requests == []
    assert "(3 replayed from the journal)" in summary_line(result)
    lines = json_lines(out.read_text(encoding="utf-8"))  # exported again, from the journal
    assert [line["input"]["url"] for line in lines if line["ok"]] == URLS


async def test_lines_are_urls_paths_and_json_objects(
    job: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines are URLs (://), JSON DetectInputs ({) or paths from the cwd; an input's options win."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clip.wav").write_bytes(b"RIFF" + bytes(64))
    source = tmp_path / "inputs.txt"
    source.write_text(
        "https://example.com/a.wav\n"
        "clip.wav\n"
        '{"url": "https://example.com/b.png", "options": {"visualize": false}}\n',
        encoding="utf-8",
    )
    result = await job(str(source), "--journal", str(job.job), "--visualize", "--json")
    assert result.exit_code == 0, result.output
    by_name = {d.filename: d for d in job.fake.detections.values()}
    assert set(by_name) == {"a.wav", "clip.wav", "b.png"}
    assert by_name["clip.wav"].source == "file" and by_name["a.wav"].source == "url"
    assert by_name["a.wav"].options["visualize"] is True
    assert by_name["b.png"].options["visualize"] is False
    lines = {line["index"]: line["input"] for line in json_lines(result.stdout)}
    assert lines[1] == {"file": "clip.wav"}


async def test_inputs_from_stdin(job: Run) -> None:
    """`--from -` reads the inputs from stdin."""
    result = await job("--from", "-", "--journal", str(job.job), input="\n".join(URLS) + "\n")
    assert result.exit_code == 0, result.output
    assert job.created() == Counter(URLS)


async def test_json_prints_one_outcome_per_input_as_it_finishes(job: Run, inputs: Path) -> None:
    """--json prints JobOutcome.to_dict() lines on stdout and the summary on stderr."""
    result = await job(str(inputs), "--journal", str(job.job), "--json")
    assert result.exit_code == 0, result.output
    outcomes = [JobOutcome.from_dict(line) for line in json_lines(result.stdout)]
    assert sorted(o.index for o in outcomes) == [0, 1, 2]
    assert all(o.ok and o.input.url == URLS[o.index] and o.detection for o in outcomes)
    assert "3 inputs: 3 ok" in result.stderr


async def test_no_wait_only_submits(job: Run, inputs: Path) -> None:
    """--no-wait submits every input and polls none."""
    result = await job(str(inputs), "--journal", str(job.job), "--no-wait", "--json")
    assert result.exit_code == 0, result.output
    assert [r.method for r in job.fake.requests] == ["POST"] * 3
    assert {line["state"] for line in json_lines(result.stdout)} == {"created"}


# --- exit codes ----------------------------------------------------------------------------


async def test_failures_exit_5_and_are_listed(job: Run, tmp_path: Path) -> None:
    """A failed analysis and an input that cannot be sent are reported, and the run exits 5."""
    source = tmp_path / "inputs.txt"
    source.write_text(f"{URLS[0]}\nhttps://example.com/fail.wav\nmissing.wav\n", encoding="utf-8")
    result = await job(str(source), "--journal", str(job.job))
    assert result.exit_code == 5
    assert "1 ok, 1 failed, 0 in doubt, 1 not created" in summary_line(result)
    assert "fail.wav" in result.stdout and "analysis failed" in result.stdout
    assert "missing.wav" in result.stdout and "no such file" in result.stdout
    assert "error: 2 of 3 inputs failed" in result.stderr
    assert "run the same command again" in result.stderr  # the input never sent is retried


async def test_in_doubt_exits_5_with_a_hint_and_a_rerun_adopts_it(job: Run, inputs: Path) -> None:
    """In doubt exits 5 with the sqlite3 query; the rerun adopts its detection, sending nothing."""
    in_doubt_setup(job.fake)
    first = await job(str(inputs), "--journal", str(job.job), "--concurrency", "1")
    assert first.exit_code == 5, first.output
    assert "3 inputs: 2 ok, 0 failed, 1 in doubt, 0 not created" in summary_line(first)
    assert IN_DOUBT_QUERY.format(job=job.job) in first.stderr
    assert "--resubmit-in-doubt" in first.stderr

    job.fake.clear_faults()
    second = await job(str(inputs), "--journal", str(job.job), "--json")
    assert second.exit_code == 0, second.output
    adopted = [line for line in json_lines(second.stdout) if not line["replayed"]]
    assert [line["origin"] for line in adopted] == ["adopted"]
    assert job.created() == Counter(URLS)  # one detection per URL
    assert len(job.posts()) == 3  # the rerun sent nothing


async def test_settle_is_the_reconciliation_wait(job: Run, inputs: Path) -> None:
    """Reconciliation settles 60 s (on the client's clock) before listing; --settle changes it."""
    in_doubt_setup(job.fake)
    assert (await job(str(inputs), "--journal", str(job.job))).exit_code == 5
    assert 59 < max(job.clock.sleeps) <= 60
    job.fake.clear_faults()
    in_doubt_setup(job.fake)
    other = job.job.with_name("other.db")
    assert (await job(str(inputs), "--journal", str(other), "--settle", "5")).exit_code == 5
    assert 4 < max(job.clock.sleeps) <= 5


async def test_resubmit_in_doubt_sends_it_again(job: Run, inputs: Path) -> None:
    """--resubmit-in-doubt sends an input in doubt again, although it may exist (here it did)."""
    in_doubt_setup(job.fake)
    assert (await job(str(inputs), "--journal", str(job.job), "--concurrency", "1")).exit_code == 5
    result = await job(str(inputs), "--journal", str(job.job), "--resubmit-in-doubt")
    assert result.exit_code == 0, result.output
    assert sorted(job.created().values()) == [1, 1, 2]  # billed twice, as the flag warns


async def test_edited_inputs_are_a_usage_error_naming_the_index(
    job: Run, inputs: Path, tmp_path: Path
) -> None:
    """Inputs that differ from the journal's exit 64 naming the input and its line; none is sent."""
    assert (await job(str(inputs), "--journal", str(job.job))).exit_code == 0
    edited = tmp_path / "edited.txt"
    edited.write_text(
        f"{URLS[0]}\n# another clip\nhttps://example.com/other.wav\n{URLS[2]}\n", encoding="utf-8"
    )
    job.fake.reset_counters()
    result = await job(str(edited), "--journal", str(job.job))
    assert result.exit_code == 64
    assert re.search(r"input 1 differs .* \(input 1 is line 3 of .*edited\.txt\)", result.stderr)
    assert job.fake.requests == []


async def test_a_journal_in_use_is_refused(job: Run, inputs: Path) -> None:
    """A journal held by another run exits 1 with a message saying so; nothing is sent."""
    held = os.open(f"{job.job}.lock", os.O_RDWR | os.O_CREAT)  # as a running job holds it
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        os.write(held, b"4242")
        result = await job(str(inputs), "--journal", str(job.job))
    finally:
        os.close(held)
    assert result.exit_code == 1
    assert f"error: the journal {job.job} is in use by a running job (pid 4242)" in result.stderr
    assert job.fake.requests == []


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--journal", "{job}"], None, "no inputs"),
        (["{inputs}", "--from", "-", "--journal", "{job}"], "", "not both"),
        (["{inputs}"], None, "Missing option '--journal'"),
        (["-", "--journal", "{job}"], "# nothing\n\n", "no inputs in stdin"),
        (["-", "--journal", "{job}"], "https://example.com/a.wav\n{oops\n", "stdin line 2:"),
        (["-", "--journal", "{job}"], '{"uri": "https://example.com/a.wav"}\n', "unknown input"),
        (["{inputs}", "--journal", "{job}", "--no-wait", "--timeout", "5"], None, "--no-wait"),
        (["{inputs}", "--journal", "{job}", "--out", "{job}"], None, "--out must not be"),
        (["{inputs}", "--journal", "{job}", "--frame-length", "9"], None, "frame_length"),
    ],
)
async def test_usage_errors_send_nothing(
    job: Run, inputs: Path, args: list[str], stdin: str | None, message: str
) -> None:
    """Bad usage (no or two sources, an unreadable line, a bad option) exits 64, sending nothing."""
    argv = [arg.format(job=job.job, inputs=inputs) for arg in args]
    result = await job(*argv, input=stdin)
    assert result.exit_code == 64, result.output
    assert message in result.stderr
    assert job.fake.requests == []


# --- Ctrl-C --------------------------------------------------------------------------------


@pytest.fixture
def spawn() -> Iterator[Callable[[Sequence[str], Mapping[str, str]], subprocess.Popen[str]]]:
    """Start `python -m resemble_detect_async ARGS`; killed at the end if still running."""
    started: list[subprocess.Popen[str]] = []

    def start(args: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "resemble_detect_async", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


async def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(
    job: Run,
    inputs: Path,
    spawn: Callable[[Sequence[str], Mapping[str, str]], subprocess.Popen[str]],
) -> None:
    """Ctrl-C exits 130 saying to run again; the same command finishes, creating nothing twice."""
    # One POST creates its detection and never answers; the others finish.
    job.fake.inject(Fault.hang(method="POST", path="/detect", after_handler=True))
    argv = ["run", str(inputs), "--journal", str(job.job), "--json"]
    proc = spawn(
        argv, {"RESEMBLE_API_KEY": job.fake.api_key, "RESEMBLE_BASE_URL": job.fake.base_url}
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
    assert json.loads(first)["ok"]  # one input is done, one POST hangs
    proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(asyncio.to_thread(proc.wait), 60) == 130
    assert "stopped; run the same command again" in proc.stderr.read()

    job.fake.clear_faults()
    again = await asyncio.to_thread(job.invoke, argv)  # settling is on the FakeClock
    assert again.exit_code == 0, again.output
    outcomes = json_lines(again.stdout)
    assert sorted(line["input"]["url"] for line in outcomes) == URLS
    assert all(line["ok"] for line in outcomes)
    assert any(line["replayed"] for line in outcomes)  # what the first run finished
    # The hung POST had created its detection: it was adopted, not sent again.
    assert Counter(job.posts()) == Counter(URLS)
    assert job.created() == Counter(URLS)
