"""The `resemble-detect` command line, run against the fake Detect API.

Each command runs through click's CliRunner in a worker thread (the command calls
`asyncio.run` itself) while the test's event loop serves a `FakeDetectAPI`; the command finds
it through RESEMBLE_BASE_URL and RESEMBLE_API_KEY, as a user's shell would provide them.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import runpy
import select
import signal
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

import resemble_detect_async._cli as entry
from resemble_detect_async import (
    AuthenticationError,
    DetectClient,
    DetectionFailedError,
    InvalidRequestError,
    NotFoundError,
    Outcome,
    PollPolicy,
    Progress,
    RetryPolicy,
    ServerError,
    WaitTimeoutError,
)
from resemble_detect_async.cli import SUBCOMMANDS, ExitCode, Runtime, app, environment_client, main
from resemble_detect_async.cli._exit import code_for_failures
from resemble_detect_async.cli._jsonl import repair_tail, saved
from resemble_detect_async.cli._options import HELP
from resemble_detect_async.cli._progress import ProgressDisplay, format_duration
from resemble_detect_async.testing import FakeClock, FakeDetectAPI, Fault, outcome_for_name

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = [
    "detect",
    "wait",
    "get",
    "list",
    "delete",
    "fetch",
    "run",
    "batch",
    "demo",
    "serve-fake",
]
UUID = "0b5e5d3c-9f0e-4a51-9a43-0d2b6f1c7e11"


def quick_client(**options: Any) -> DetectClient:
    """The environment's client, minus the waits: polls and retries back to back, no rate limit."""
    settings: dict[str, Any] = {
        "poll": PollPolicy.no_wait(),
        "retry": RetryPolicy.no_wait(),
        "rate_limit": None,
    }
    return environment_client(**(settings | options))


QUICK = Runtime(make_client=quick_client, monotonic=lambda: 0.0)


class Cli:
    """Runs `resemble-detect ARGS` against one fake API, the way a shell would."""

    def __init__(self, fake: FakeDetectAPI) -> None:
        self.fake = fake
        self.runtime: Runtime | None = QUICK

    @property
    def env(self) -> dict[str, str | None]:
        return {"RESEMBLE_API_KEY": self.fake.api_key, "RESEMBLE_BASE_URL": self.fake.base_url}

    async def __call__(
        self, *args: str, input: str | None = None, env: Mapping[str, str | None] | None = None
    ) -> Result:
        return await asyncio.to_thread(
            invoke, args, input, {**self.env, **(env or {})}, self.runtime
        )


def invoke(
    args: Sequence[str],
    input: str | None = None,
    env: Mapping[str, str | None] | None = None,
    runtime: Runtime | None = None,
) -> Result:
    """One run of the app in click's test runner, at a fixed help width, off a terminal
    whatever the environment says (rich reads these variables)."""
    plain = {"FORCE_COLOR": None, "TTY_COMPATIBLE": None, "COLUMNS": None, "LINES": None}
    return CliRunner().invoke(
        app,
        list(args),
        input=input,
        env={**plain, **(env or {})},
        obj=runtime,
        catch_exceptions=False,
        terminal_width=80,
    )


@pytest.fixture
def cli(fake: FakeDetectAPI) -> Cli:
    """The command line bound to the fake API (detections complete on their second poll)."""
    return Cli(fake)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


# --- help, entry points, usage --------------------------------------------------------------


def test_help_lists_every_subcommand_in_order() -> None:
    """`resemble-detect --help` lists the subcommands, most used first, and the exit codes."""
    result = invoke(["--help"])
    assert result.exit_code == 0
    listed = re.findall(r"^  (\S+)\s{2,}", result.stdout.split("Commands:")[1], re.MULTILINE)
    assert listed == COMMANDS
    assert "64 bad usage" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_explains_itself(command: str) -> None:
    """Each subcommand's --help says what it does and how to call it."""
    result = invoke([command, "--help"])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: resemble-detect {command} ")
    description = result.stdout.split("\n\n")[1].strip()
    assert len(description) > 20


def test_registered_modules_are_the_listed_commands() -> None:
    """SUBCOMMANDS (the extension point) is what the app registers, in order."""
    assert [name.lstrip("_").replace("_", "-") for name in SUBCOMMANDS] == COMMANDS
    assert list(app.commands) == COMMANDS


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_docs_show_the_real_help(command: str) -> None:
    """docs/cli.md carries the current --help output of the app and of every subcommand."""
    docs = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    text = invoke([*command.split(), "--help"]).stdout.strip()
    assert text in docs, f"docs/cli.md is missing the current `{command} --help`"


def test_exit_codes_are_the_documented_numbers() -> None:
    """The exit codes are a contract with scripts: these numbers never change."""
    assert {code.name: code.value for code in ExitCode} == {
        "OK": 0,
        "ERROR": 1,
        "NO_KEY": 2,
        "UNAUTHORIZED": 3,
        "NOT_FOUND": 4,
        "ITEMS_FAILED": 5,
        "USAGE": 64,
        "MISSING_EXTRA": 69,
        "INTERRUPTED": 130,
    }
    assert entry.MISSING_EXTRA == ExitCode.MISSING_EXTRA


def test_version() -> None:
    """--version prints the package version."""
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("resemble-detect, version ")


def test_no_command_is_bad_usage() -> None:
    """A bare `resemble-detect` shows the help on stderr and exits 64."""
    result = invoke([])
    assert result.exit_code == 64
    assert "Commands:" in result.stderr


def test_unknown_option_is_bad_usage_not_clicks_2() -> None:
    """Bad usage exits 64, never click's 2 (which means "no API key" here)."""
    result = invoke(["list", "--bogus"], env={"RESEMBLE_API_KEY": None})
    assert result.exit_code == 64
    assert "No such option" in result.stderr


def test_console_script_points_at_the_entry_point() -> None:
    """pyproject's `resemble-detect` script resolves to `_cli.main`, which runs the app."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    target = pyproject["project"]["scripts"]["resemble-detect"]
    assert target == "resemble_detect_async._cli:main"
    out = io.StringIO()
    assert entry.main(["--version"], out=out) == 0
    assert out.getvalue().startswith("resemble-detect, version ")


def test_python_dash_m_runs_the_command_line() -> None:
    """`python -m resemble_detect_async` is the same command."""
    done = subprocess.run(
        [sys.executable, "-m", "resemble_detect_async", "get", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: resemble-detect get" in done.stdout


def test_dunder_main_exits_with_the_command_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`resemble_detect_async/__main__.py` exits with the command's own exit code."""
    monkeypatch.setattr(sys, "argv", ["resemble-detect", "list", "--bogus"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("resemble_detect_async", run_name="__main__")
    assert exited.value.code == 64
    assert "No such option" in capsys.readouterr().err


def test_missing_extra_prints_a_one_line_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without click/rich installed, the command says how to install the extra (exit 69)."""
    for name in list(sys.modules):
        if name == "resemble_detect_async.cli" or name.startswith("resemble_detect_async.cli."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "click", None)
    assert entry.main(["demo"]) == 69
    assert "pip install 'resemble-detect-async[cli]'" in one_line(capsys.readouterr().err)


def test_every_request_option_has_help() -> None:
    """Every option of DetectionOptions and BatchOptions has a hand-written help text."""
    import typing

    from resemble_detect_async import BatchOptions, DetectionOptions

    names = set(typing.get_type_hints(DetectionOptions)) | set(typing.get_type_hints(BatchOptions))
    assert sorted(names - set(HELP)) == []


# --- the key ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["detect", "https://example.com/a.wav"],
        ["wait", UUID],
        ["get", UUID],
        ["delete", UUID],
        ["list"],
        ["fetch", "--from", "-", "--out", "{tmp}/out.jsonl"],
        ["batch", "{tmp}/a.wav"],
    ],
)
def test_no_key_explains_how_to_set_it(args: list[str], tmp_path: Path) -> None:
    """Every API command without RESEMBLE_API_KEY exits 2 with one line on how to set it."""
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    result = invoke(argv, input=UUID, env={"RESEMBLE_API_KEY": None})
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert "RESEMBLE_API_KEY" in line and "export" in line and "demo" in line


async def test_refused_key_exits_3(cli: Cli) -> None:
    """A key the API refuses (401) exits 3 with a one-line reason."""
    result = await cli("list", env={"RESEMBLE_API_KEY": "wrong"})
    assert result.exit_code == 3
    assert "401" in one_line(result.stderr) and "RESEMBLE_API_KEY" in result.stderr


async def test_unusable_base_url_exits_2(cli: Cli) -> None:
    """A RESEMBLE_BASE_URL the SDK refuses is a configuration problem: exit 2, one line."""
    result = await cli("list", env={"RESEMBLE_BASE_URL": "ftp://example.com/api"})
    assert result.exit_code == 2
    assert one_line(result.stderr).startswith("error: ")


async def test_the_default_runtime_reads_the_environment(cli: Cli) -> None:
    """Without a test runtime, commands build their client from the environment alone."""
    uuid = cli.fake.add_detection(label="real", score=0.2, polls_to_complete=0)
    cli.runtime = None
    result = await cli("get", uuid)
    assert result.exit_code == 0
    assert "REAL" in result.stdout


async def test_ctrl_c_exits_130(cli: Cli) -> None:
    """An interrupt ends the command with 130 and a short note, not a traceback."""

    def interrupted(**_: Any) -> DetectClient:
        raise KeyboardInterrupt

    cli.runtime = Runtime(make_client=interrupted)
    result = await cli("list")
    assert result.exit_code == 130
    assert one_line(result.stderr) == "interrupted"


# --- detect ----------------------------------------------------------------------------------


async def test_detect_submits_urls_and_files(cli: Cli, tmp_path: Path) -> None:
    """detect submits each URL and file once and prints their uuids, with a hint to wait."""
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"RIFF" + bytes(64))
    result = await cli("detect", "https://example.com/voice.wav", str(clip))
    assert result.exit_code == 0, result.stderr
    uuids = list(cli.fake.detections)
    assert len(uuids) == 2
    assert all(uuid in result.stdout for uuid in uuids)
    assert {d.filename for d in cli.fake.detections.values()} == {"voice.wav", "clip.wav"}
    assert f"resemble-detect wait {' '.join(uuids)}" in result.stderr


async def test_detect_wait_prints_every_verdict(cli: Cli) -> None:
    """--wait polls until every verdict is in; a failed analysis is shown and exits 5."""
    urls = ["https://example.com/one.wav", "https://example.com/two.png"]
    result = await cli("detect", *urls, "https://example.com/fail.wav", "--wait")
    assert result.exit_code == 5
    rows = result.stdout.splitlines()[1:]
    for url, row in zip(urls, rows, strict=False):
        _, label, score = outcome_for_name(url)
        assert row.startswith(url) and label.upper() in row and f"{score:.2f}" in row
    assert "fail.wav" in rows[2] and "analysis failed" in rows[2]
    assert "1 of 3 failed" in one_line(result.stderr.split("\n", 1)[1])


async def test_detect_sends_the_options_given_and_no_others(cli: Cli) -> None:
    """Options come from the SDK's DetectionOptions; only those given are sent."""
    result = await cli(
        "detect",
        "https://example.com/a.mp4",
        "--intelligence",
        "--zero-retention",
        "--frame-length",
        "3",
        "--modality",
        "audio",
    )
    assert result.exit_code == 0, result.stderr
    (detection,) = cli.fake.detections.values()
    sent = cli.fake.requests[0].json
    assert sent is not None
    assert {k: v for k, v in sent.items() if k != "url"} == {
        "intelligence": True,
        "zero_retention_mode": True,
        "frame_length": 3,
        "modality": "audio",
    }
    assert detection.options["zero_retention_mode"] is True


async def test_detect_json_prints_one_outcome_per_line(cli: Cli) -> None:
    """--json --wait prints Outcome.to_dict() lines, each with its input, and nothing else."""
    urls = ["https://example.com/a.wav", "https://example.com/b.wav"]
    result = await cli("detect", *urls, "--wait", "--json")
    assert result.exit_code == 0
    lines = sorted(json_lines(result.stdout), key=lambda line: line["index"])
    assert [line["input"] for line in lines] == urls
    assert all(line["ok"] and line["detection"]["status"] == "completed" for line in lines)
    assert [line["index"] for line in lines] == [0, 1]


async def test_detect_refuses_a_missing_file_before_sending_anything(cli: Cli) -> None:
    """An input that is neither a URL nor a file is bad usage (64): nothing is billed."""
    result = await cli("detect", "https://example.com/a.wav", "no-such-file.wav")
    assert result.exit_code == 64
    assert "no-such-file.wav" in result.stderr
    assert cli.fake.requests == []


async def test_detect_rejected_options_are_bad_usage(cli: Cli) -> None:
    """Options the SDK refuses for every input (signal with zero retention) exit 64."""
    result = await cli("detect", "https://example.com/a.wav", "--signal", "--zero-retention")
    assert result.exit_code == 64
    assert "signal" in result.stderr
    assert cli.fake.requests == []
    for flag in (["--wait-for-intelligence"], ["--timeout", "5"]):
        alone = await cli("detect", "https://example.com/a.wav", *flag)
        assert alone.exit_code == 64 and f"{flag[0]} needs --wait" in alone.stderr


async def test_detect_submission_failures_are_per_input(cli: Cli) -> None:
    """An input the API refuses is reported on its row; the other inputs still go through."""
    cli.fake.inject(Fault.error(400, message="unsupported media", times=1, method="POST"))
    result = await cli("detect", "https://example.com/a.wav", "--json")
    assert result.exit_code == 5
    (line,) = json_lines(result.stdout)
    assert line["uuid"] is None and line["error"]["type"] == "BadRequestError"


# --- get, wait, delete, list -------------------------------------------------------------------


async def test_get_shows_the_detection(cli: Cli) -> None:
    """get prints the headline fields; --json prints the item exactly as the API sent it."""
    uuid = cli.fake.add_detection(label="fake", score=0.93, polls_to_complete=0)
    table = await cli("get", uuid)
    assert table.exit_code == 0
    assert "FAKE" in table.stdout and "0.93" in table.stdout and uuid in table.stdout
    raw = await cli("get", uuid, "--json")
    (item,) = json_lines(raw.stdout)
    assert item["uuid"] == uuid and item["status"] == "completed"


async def test_get_unknown_uuid_exits_4(cli: Cli) -> None:
    """A uuid the API does not know exits 4 with a one-line reason."""
    result = await cli("get", UUID)
    assert result.exit_code == 4
    assert "404" in one_line(result.stderr)


async def test_wait_prints_verdicts_in_input_order(cli: Cli) -> None:
    """wait waits for every uuid and prints them in the order given."""
    first = cli.fake.add_detection(label="fake", score=0.9, polls_to_complete=2)
    second = cli.fake.add_detection(label="real", score=0.1, polls_to_complete=1)
    result = await cli("wait", first, second)
    assert result.exit_code == 0, result.stderr
    rows = result.stdout.splitlines()[1:]
    assert rows[0].startswith(first) and "FAKE" in rows[0]
    assert rows[1].startswith(second) and "REAL" in rows[1]
    assert "waiting: 2/2 done" in result.stderr


async def test_wait_json_and_failures(cli: Cli) -> None:
    """--json prints one outcome per uuid; failed and unknown uuids are failures (exit 5)."""
    good = cli.fake.add_detection(polls_to_complete=0)
    bad = cli.fake.add_detection(outcome="failed", error_message="corrupt", polls_to_complete=0)
    result = await cli("wait", good, bad, UUID, "--json")
    assert result.exit_code == 5
    lines = {line["uuid"]: line for line in json_lines(result.stdout)}
    assert lines[good]["ok"] is True
    assert lines[bad]["error"]["type"] == "DetectionFailedError"
    assert lines[UUID]["error"]["type"] == "NotFoundError"


async def test_wait_only_unknown_uuids_exits_4(cli: Cli) -> None:
    """When every failure is a 404, the run exits 4 (not found), not 5."""
    result = await cli("wait", UUID)
    assert result.exit_code == 4


async def test_wait_timeout_on_virtual_time(cli: Cli) -> None:
    """--timeout bounds each wait; the detection is reported as timed out (exit 5)."""
    uuid = cli.fake.add_detection(polls_to_complete=10**9)
    clock = FakeClock()
    cli.runtime = Runtime(
        make_client=lambda **kw: environment_client(clock=clock, rate_limit=None, **kw)
    )
    result = await cli("wait", uuid, "--timeout", "60")
    assert result.exit_code == 5
    assert "gave up waiting" in result.stdout
    assert clock.now == pytest.approx(60, abs=11)  # the real schedule, on virtual time
    assert sum(clock.sleeps) > 30


async def test_delete(cli: Cli) -> None:
    """delete removes the detection; deleting it again exits 4."""
    uuid = cli.fake.add_detection(polls_to_complete=0)
    result = await cli("delete", uuid, "--json")
    assert result.exit_code == 0
    assert json_lines(result.stdout) == [{"uuid": uuid, "deleted": True}]
    assert (await cli("delete", uuid)).exit_code == 4


async def test_list_one_page_and_all(cli: Cli) -> None:
    """list shows one page with a hint for the next; --all walks every page."""
    uuids = [cli.fake.add_detection(polls_to_complete=0) for _ in range(25)]
    page = await cli("list", "--page-size", "10")
    assert page.exit_code == 0
    assert len(page.stdout.splitlines()) == 11  # header + 10
    assert "next: resemble-detect list --page 2" in page.stderr
    everything = await cli("list", "--all", "--page-size", "10", "--json")
    assert sorted(line["uuid"] for line in json_lines(everything.stdout)) == sorted(uuids)
    last = await cli("list", "--page", "3", "--page-size", "10")
    assert len(last.stdout.splitlines()) == 6 and "next" not in last.stderr


async def test_list_usage_errors(cli: Cli) -> None:
    """--all with --page, or a page size out of 10-1000, is bad usage (64)."""
    assert (await cli("list", "--all", "--page", "2")).exit_code == 64
    assert (await cli("list", "--page-size", "5")).exit_code == 64
    assert cli.fake.requests == []


# --- fetch ------------------------------------------------------------------------------------


async def test_fetch_writes_one_line_per_uuid_and_resumes(cli: Cli, tmp_path: Path) -> None:
    """fetch writes Outcome.to_dict() lines; a rerun skips the uuids already written."""
    uuids = [cli.fake.add_detection(polls_to_complete=0) for _ in range(4)]
    source = tmp_path / "uuids.txt"
    source.write_text("# my uuids\n" + "\n".join(uuids[:3]) + "\n\n" + uuids[0] + "\n")
    out = tmp_path / "results.jsonl"
    first = await cli("fetch", "--from", str(source), "--out", str(out))
    assert first.exit_code == 0, first.stderr
    lines = json_lines(out.read_text())
    assert sorted(line["uuid"] for line in lines) == sorted(uuids[:3])
    assert {line["index"] for line in lines} == {0, 1, 2}
    assert [Outcome.from_dict(line).ok for line in lines] == [True] * 3

    source.write_text("\n".join(uuids) + "\n")  # one more uuid
    cli.fake.reset_counters()
    second = await cli("fetch", "--from", str(source), "--out", str(out), "--json")
    assert second.exit_code == 0
    assert [r.path for r in cli.fake.requests] == [f"/detect/{uuids[3]}"]
    (summary,) = json_lines(second.stdout)
    assert summary["written"] == 1 and summary["skipped_done"] == 3
    assert len(json_lines(out.read_text())) == 4


async def test_fetch_resumes_after_a_torn_line(cli: Cli, tmp_path: Path) -> None:
    """A half-written last line (a killed run) is cut off and that uuid fetched again."""
    uuids = [cli.fake.add_detection(polls_to_complete=0) for _ in range(3)]
    out = tmp_path / "results.jsonl"
    done = Outcome(index=0, uuid=uuids[0]).to_dict()
    out.write_text(json.dumps(done) + "\n" + json.dumps({"uuid": uuids[1]})[:20])
    result = await cli("fetch", "--from", "-", "--out", str(out), input="\n".join(uuids))
    assert result.exit_code == 0
    assert "incomplete last line" in result.stderr
    lines = json_lines(out.read_text())
    assert lines[0]["uuid"] == uuids[0]
    assert sorted(line["uuid"] for line in lines[1:]) == sorted(uuids[1:])


async def test_fetch_wait_records_failed_analyses(cli: Cli, tmp_path: Path) -> None:
    """--wait waits for each uuid; a failed analysis is a failed line and the run exits 5."""
    good = cli.fake.add_detection(polls_to_complete=1)
    bad = cli.fake.add_detection(outcome="failed", polls_to_complete=1)
    out = tmp_path / "results.jsonl"
    result = await cli("fetch", "--from", "-", "--out", str(out), "--wait", input=f"{good}\n{bad}")
    assert result.exit_code == 5
    lines = {line["uuid"]: line for line in json_lines(out.read_text())}
    assert lines[good]["detection"]["status"] == "completed"
    assert lines[bad]["error"]["type"] == "DetectionFailedError"


async def test_fetch_retry_failed_redoes_only_failed_lines(cli: Cli, tmp_path: Path) -> None:
    """A rerun skips failed lines too; --retry-failed fetches them again and appends."""
    good = cli.fake.add_detection(polls_to_complete=0)
    flaky = cli.fake.add_detection(polls_to_complete=0)
    cli.fake.inject(Fault.error(503, times=5, path=f"/detect/{flaky}"))  # every retry fails
    out = tmp_path / "results.jsonl"
    args = ("fetch", "--from", "-", "--out", str(out))
    first = await cli(*args, input=f"{good}\n{flaky}\n")
    assert first.exit_code == 5
    assert "--retry-failed" in first.stderr
    cli.fake.reset_counters()
    assert (await cli(*args, input=f"{good}\n{flaky}\n")).exit_code == 0  # nothing to do
    assert cli.fake.requests == []
    again = await cli(*args, "--retry-failed", input=f"{good}\n{flaky}\n")
    assert again.exit_code == 0
    assert [r.path for r in cli.fake.requests] == [f"/detect/{flaky}"]
    lines = json_lines(out.read_text())
    assert len(lines) == 3 and lines[-1]["uuid"] == flaky and lines[-1]["ok"] is True
    assert saved(out, ok_only=True) == {good, flaky}


async def test_fetch_with_a_refused_key_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    """A 401 stops the run with exit 3 and writes no lines, so a rerun does every uuid."""
    uuids = [cli.fake.add_detection(polls_to_complete=0) for _ in range(3)]
    out = tmp_path / "results.jsonl"
    result = await cli(
        "fetch",
        "--from",
        "-",
        "--out",
        str(out),
        input="\n".join(uuids),
        env={"RESEMBLE_API_KEY": "x"},
    )
    assert result.exit_code == 3
    assert "run the same command again" in result.stderr
    assert out.read_text() == ""


async def test_fetch_timeout_needs_wait(cli: Cli, tmp_path: Path) -> None:
    """--timeout without --wait is bad usage."""
    result = await cli("fetch", "--from", "-", "--out", str(tmp_path / "o"), "--timeout", "5")
    assert result.exit_code == 64


# --- batch ------------------------------------------------------------------------------------


async def test_batch_of_files_without_and_with_wait(cli: Cli, tmp_path: Path) -> None:
    """batch submits the files as one job; --wait prints each file's verdict."""
    files = [tmp_path / "a.wav", tmp_path / "b.png"]
    for file in files:
        file.write_bytes(b"data" * 8)
    submitted = await cli("batch", *map(str, files), "--json")
    assert submitted.exit_code == 0
    (item,) = json_lines(submitted.stdout)
    assert item["total_files"] == 2 and len(item["detect_uuids"]) == 2
    table = await cli("batch", *map(str, files))
    assert table.exit_code == 0
    assert "resemble-detect wait " in table.stderr and len(table.stdout.splitlines()) == 3
    waited = await cli("batch", *map(str, files), "--wait", "--no-visualize")
    assert waited.exit_code == 0, waited.stderr
    assert "a.wav" in waited.stdout and "b.png" in waited.stdout
    assert "completed" in waited.stderr
    latest = list(cli.fake.batches.values())[-1]
    assert cli.fake.detections[latest.detect_uuids[0]].options.get("visualize") is False


async def test_batch_zip_with_a_failure_exits_5(cli: Cli, tmp_path: Path) -> None:
    """A zip is sent as the archive; a partially failed batch exits 5 with the reason."""
    archive = tmp_path / "media.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("ok.wav", b"RIFF" * 8)
        zipped.writestr("fail.wav", b"RIFF" * 8)
    result = await cli("batch", str(archive), "--wait", "--json")
    assert result.exit_code == 5
    (line,) = json_lines(result.stdout)
    assert line["batch"]["status"] == "partially_failed"
    assert len(line["outcomes"]) == 2
    assert "partially_failed" in one_line(result.stderr.splitlines()[-1])


# --- serve-fake --------------------------------------------------------------------------------


def test_serve_fake_serves_until_interrupted() -> None:
    """serve-fake prints its URL first, serves the commands, and stops cleanly on Ctrl-C."""
    server = subprocess.Popen(
        [sys.executable, "-m", "resemble_detect_async", "serve-fake", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], 30)
        assert ready, "serve-fake did not start"
        base_url = server.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/v2")
        env = {"RESEMBLE_API_KEY": "test-key", "RESEMBLE_BASE_URL": base_url}
        result = invoke(["detect", "https://example.com/x.wav", "--wait"], env=env, runtime=QUICK)
        assert result.exit_code == 0, result.stderr
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
        assert server.stderr is not None and "RESEMBLE_BASE_URL" in server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for stream in (server.stdout, server.stderr):
            if stream is not None:
                stream.close()


# --- the parts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "code"),
    [
        ([], ExitCode.OK),
        ([NotFoundError("x", status=404)], ExitCode.NOT_FOUND),
        ([NotFoundError("x", status=404)] * 2, ExitCode.NOT_FOUND),
        ([InvalidRequestError("bad uuid")], ExitCode.USAGE),
        ([NotFoundError("x", status=404), InvalidRequestError("x")], ExitCode.ITEMS_FAILED),
        ([WaitTimeoutError("u", timeout=1)], ExitCode.ITEMS_FAILED),
        ([ServerError("x", status=503), NotFoundError("x", status=404)], ExitCode.ITEMS_FAILED),
        (
            [NotFoundError("x", status=404), AuthenticationError("x", status=401)],
            ExitCode.UNAUTHORIZED,
        ),
        ([RuntimeError("a bug in a callback")], ExitCode.ITEMS_FAILED),
    ],
)
def test_exit_code_of_a_run(failures: list[BaseException], code: ExitCode) -> None:
    """A 401 wins; a reason shared by every failure keeps its code; anything else is 5."""
    assert code_for_failures(failures) is code


def test_detection_failed_error_is_an_item_failure() -> None:
    """A failed analysis is "some items failed", not a generic error."""
    from resemble_detect_async import Detection

    failed = DetectionFailedError(Detection(uuid=UUID))
    assert code_for_failures([failed]) is ExitCode.ITEMS_FAILED


class Ticks:
    """A clock that reads the times it is given, then stays at the last one."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def test_plain_progress_prints_periodic_lines_with_rate_and_eta() -> None:
    """Off a terminal: a line at most every `every` seconds, with rate and ETA, and a last one."""
    buffer = io.StringIO()
    plain = Console(file=buffer, width=200, force_terminal=False)
    clock = Ticks(0.0, 1.0, 10.0, 11.0, 20.0)
    with ProgressDisplay("waiting", 10, console=plain, monotonic=clock, every=5.0) as display:
        display(Progress(total=10, succeeded=1, failed=0))  # t=1: too soon
        display(Progress(total=10, succeeded=4, failed=1))  # t=10: printed
        display(Progress(total=10, succeeded=5, failed=1))  # t=11: too soon
    lines = buffer.getvalue().splitlines()
    assert lines == [
        "waiting: 5/10 done · 4 ok · 1 failed · 5 pending · 0.5/s · ETA 10s",
        "waiting: 6/10 done · 5 ok · 1 failed · 4 pending · 0.3/s · ETA 13s",
    ]


def test_plain_progress_without_a_total() -> None:
    """A stream of unknown length shows done counts and no ETA."""
    buffer = io.StringIO()
    clock = Ticks(0.0, 2.0)
    with ProgressDisplay(
        "fetching",
        None,
        console=Console(file=buffer, force_terminal=False),
        monotonic=clock,
        every=60.0,
    ) as display:
        display(Progress(total=None, succeeded=3, failed=1))
    assert buffer.getvalue().strip() == "fetching: 4 done · 3 ok · 1 failed · ? pending · 2.0/s"


def test_live_progress_on_a_terminal() -> None:
    """On a terminal the display is a live rich bar showing done/total and the counts."""
    buffer = io.StringIO()
    terminal = Console(file=buffer, force_terminal=True, width=120)
    with ProgressDisplay("waiting", 3, console=terminal, monotonic=Ticks(0.0), every=5) as display:
        assert display.live
        display(Progress(total=3, succeeded=2, failed=1))
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())
    assert "3/3" in text and "2 ok" in text and "1 failed" in text and "0 pending" in text


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "0s"), (4, "4s"), (125, "2m05s"), (3720, "1h02m")]
)
def test_format_duration(seconds: float, text: str) -> None:
    """ETAs are short."""
    assert format_duration(seconds) == text


def test_jsonl_tail_repair_and_saved(tmp_path: Path) -> None:
    """A torn tail is cut at the last newline; saved() reads the newest line of each uuid."""
    path = tmp_path / "r.jsonl"
    assert repair_tail(path) == 0 and saved(path) == set()
    rows = [
        {"uuid": "A", "ok": False},
        {"uuid": "b", "ok": True},
        {"uuid": "a", "ok": True},
        {"uuid": "c", "ok": False},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + "not json\n" + '{"uuid": "d"')
    assert repair_tail(path) == len('{"uuid": "d"')
    assert path.read_text().endswith("not json\n")
    assert repair_tail(path) == 0
    assert saved(path) == {"a", "b", "c"}
    assert saved(path, ok_only=True) == {"a", "b"}
    path.write_text("no newline at all")
    assert repair_tail(path) == len("no newline at all") and path.read_text() == ""


def test_main_writes_to_the_given_stream() -> None:
    """main(argv, out=...) sends what the command prints there and returns the exit code."""
    out = io.StringIO()
    assert main(["list", "--help"], out=out) == 0
    assert out.getvalue().startswith("Usage: resemble-detect list")


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("RESEMBLE_API_KEY", raising=False)
    yield


def test_demo_needs_no_key(no_key: None) -> None:
    """demo runs on the embedded fake API without any key."""
    out = io.StringIO()
    assert main(["demo", "--count", "3", "--seconds", "0"], out=out) == 0
    assert "3 results in" in out.getvalue()
