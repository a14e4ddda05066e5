"""Every ```python block of README.md and docs/*.md runs as written, against the fake API.

RESEMBLE_API_KEY and RESEMBLE_BASE_URL point at a running `FakeDetectAPI`, so the
`DetectClient()` of an example talks to it; its detections are final the first time anything
looks at them (a GET or a listing), so waiting takes no time. Each block runs in a daemon
thread (with its own event loop; the fake is served by the test's), in a temporary working
directory holding the sample media the docs name (`SAMPLES`). A block is a script: a fresh
namespace, `__name__ == "__main__"`, and top-level `await` allowed, as in `python -m asyncio`.

An HTML comment on the line before a block (invisible on the site) changes how it runs:

* `<!-- fragment: client -->`: the block runs inside `async with DetectClient() as client:`.
* `<!-- fragment: continues -->`: the block runs after the page's previous block, in its
  namespace (and inside its client): it may use the names that block defined.
* `<!-- not-run: REASON -->`: the block cannot run here (it needs a real key, a public
  callback URL, a package that is not a dependency); it is only compiled. Keep these rare.

A block that defines `test_*` coroutines is an example of a test: each one is called, with
the plugin's `fake_detect_api` and `fake_detect_client` fixtures when it asks for them.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import logging
import re
import threading
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import CodeType
from typing import Any

import attrs
import pytest

from resemble_detect_async import DetectClient
from resemble_detect_async.testing import FakeDetectAPI, fake_client, outcome_for_name

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(64)
SAMPLES: dict[str, Callable[[Path], object]] = {
    "clip.wav": lambda path: path.write_bytes(WAV),
    "a.wav": lambda path: path.write_bytes(WAV),
    "b.mp3": lambda path: path.write_bytes(b"ID3" + bytes(64)),
    "interview.mp4": lambda path: path.write_bytes(bytes(64)),
    # Over the 150 MB direct-upload limit; sparse, so it costs no disk.
    "long-interview.mp4": lambda path: _sparse(path, 151 * 1024 * 1024),
    "media.zip": lambda path: _zip(path, {"a.wav": WAV, "b.mp3": b"ID3" + bytes(64)}),
    "urls.txt": lambda path: path.write_text(
        "".join(f"https://example.com/clip-{n}.wav\n" for n in range(3)), encoding="utf-8"
    ),
}
"""The files the examples read, created in each block's working directory."""

MAX_NOT_RUN = 5
"""Blocks that cannot run here are the exception: each needs a reason, and few are allowed."""

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^`\n]*)$")
_MARKER = re.compile(r"^<!--\s*(?P<kind>fragment|not-run)\s*:\s*(?P<value>.*?)\s*-->$")
_CO_COROUTINE = inspect.CO_COROUTINE


@attrs.frozen(kw_only=True)
class Block:
    """One ```python block of a page: where it is, its source, how it runs."""

    page: Path
    line: int  # of the first source line, 1-based
    source: str
    marker: str | None  # "client", "continues", "not-run"
    reason: str | None = None  # not-run's reason
    previous: Block | None = None  # the page's previous python block

    @property
    def name(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page.name
        return f"{page}:{self.line}"

    def chain(self) -> list[Block]:
        """This block, after the blocks it continues."""
        blocks = [self]
        while blocks[0].marker == "continues":
            before = blocks[0].previous
            assert before is not None, f"{self.name}: `continues` with no block before it"
            blocks.insert(0, before)
        return blocks

    def compile(self) -> CodeType:
        padded = "\n" * (self.line - 1) + self.source  # tracebacks show the Markdown lines
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        code: CodeType = compile(padded, str(self.page), "exec", flags=flags)
        return code


def _sparse(path: Path, size: int) -> None:
    with path.open("wb") as file:
        file.truncate(size)


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def blocks_of(page: Path) -> list[Block]:
    """The ```python blocks of a page (indented ones too, as in content tabs)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    previous: Block | None = None
    number = 0
    while number < len(lines):
        fence = _FENCE.match(lines[number])
        if fence is None:
            number += 1
            continue
        indent = fence["indent"]
        end = number + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if fence["info"].strip() == "python":
            body = [line[len(indent) :] for line in lines[number + 1 : end]]
            marker, reason = _marker_before(lines, number, page)
            block = Block(
                page=page,
                line=number + 2,
                source="\n".join(body) + "\n",
                marker=marker,
                reason=reason,
                previous=previous,
            )
            found.append(block)
            previous = block
        number = end + 1
    return found


def _marker_before(lines: list[str], fence: int, page: Path) -> tuple[str | None, str | None]:
    above = fence - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    match = _MARKER.match(lines[above].strip()) if above >= 0 else None
    if match is None:
        return None, None
    if match["kind"] == "not-run":
        return "not-run", match["value"]
    assert match["value"] in ("client", "continues"), f"{page}:{above + 1}: unknown fragment"
    return match["value"], None


ALL_BLOCKS = [block for page in PAGES for block in blocks_of(page)]
RUNNABLE = [block for block in ALL_BLOCKS if block.marker != "not-run"]
NOT_RUN = [block for block in ALL_BLOCKS if block.marker == "not-run"]


# --- running one block --------------------------------------------------------------------


async def _call_tests(namespace: dict[str, Any]) -> None:
    """Call the `test_*` coroutines a block defined, with the plugin's fixtures."""
    for name, function in list(namespace.items()):
        if not (name.startswith("test_") and inspect.iscoroutinefunction(function)):
            continue
        async with FakeDetectAPI() as api, fake_client(api) as client:
            fixtures = {"fake_detect_api": api, "fake_detect_client": client}
            wanted = inspect.signature(function).parameters
            await function(**{param: fixtures[param] for param in wanted})


async def _exec_async(code: CodeType, namespace: dict[str, Any]) -> None:
    if code.co_flags & _CO_COROUTINE:
        await eval(code, namespace)
    else:
        exec(code, namespace)


def run_chain(chain: list[Block]) -> None:
    """Run the blocks as the docs say they run (in the calling thread; no loop running)."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    codes = [block.compile() for block in chain]
    if chain[0].marker == "client":

        async def inside_client() -> None:
            async with DetectClient() as client:
                namespace.update(DetectClient=DetectClient, client=client)
                for code in codes:
                    await _exec_async(code, namespace)
            await _call_tests(namespace)

        asyncio.run(inside_client())
        return
    for code in codes:
        if code.co_flags & _CO_COROUTINE:
            asyncio.run(eval(code, namespace))
        else:
            exec(code, namespace)  # outside any loop: a script may call asyncio.run
    if any(name.startswith("test_") for name in namespace):
        asyncio.run(_call_tests(namespace))


@contextlib.contextmanager
def _logging_kept() -> Iterator[None]:
    """Examples configure logging; give the rest of the suite its own back."""
    root = logging.getLogger()
    sdk = logging.getLogger("resemble_detect_async")
    handlers, level, sdk_level = list(root.handlers), root.level, sdk.level
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
        sdk.setLevel(sdk_level)


@pytest.fixture
async def docs_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDetectAPI]:
    """The fake API in the environment, and a working directory with the sample media."""
    async with FakeDetectAPI(seconds_to_complete=0) as fake:  # final at the first look
        monkeypatch.setenv("RESEMBLE_API_KEY", fake.api_key)
        monkeypatch.setenv("RESEMBLE_BASE_URL", fake.base_url)
        monkeypatch.chdir(tmp_path)
        for name, make in SAMPLES.items():
            make(tmp_path / name)
        yield fake


BLOCK_TIMEOUT = 60.0
"""Seconds a block may take (they take well under one); a hung one fails, never hangs the run."""


async def run_in_thread(chain: list[Block]) -> None:
    """Run the chain in a daemon thread while this loop serves the fake API.

    Not the loop's executor: a block that hangs would keep the loop from closing, and the
    whole session with it. A daemon thread is left behind and the test fails.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def target() -> None:
        try:
            run_chain(chain)
        except BaseException as exc:  # handed to the test, which raises it
            loop.call_soon_threadsafe(_settle, done, exc)
        else:
            loop.call_soon_threadsafe(_settle, done, None)

    with _logging_kept():
        threading.Thread(target=target, name=chain[-1].name, daemon=True).start()
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout=BLOCK_TIMEOUT)
        except TimeoutError:
            pytest.fail(f"{chain[-1].name} did not finish within {BLOCK_TIMEOUT:g} s")


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the test timed out and went on
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("block", RUNNABLE, ids=[block.name for block in RUNNABLE])
async def test_block_runs(block: Block, docs_api: FakeDetectAPI) -> None:
    """The block runs as written (with its documented marker) against the fake API."""
    await run_in_thread(block.chain())


@pytest.mark.parametrize("block", NOT_RUN, ids=[block.name for block in NOT_RUN])
def test_not_run_block_compiles_and_says_why(block: Block) -> None:
    """A block marked not-run is still valid Python, and its marker gives a reason."""
    assert block.reason and len(block.reason) > 10, f"{block.name}: say why it cannot run"
    block.compile()


def test_blocks_are_found_and_few_are_not_run() -> None:
    """The collector sees the docs' blocks (indented ones too), and not-run stays rare."""
    assert len(ALL_BLOCKS) >= 60
    assert any(block.source.startswith("import asyncio") for block in ALL_BLOCKS)
    assert {block.page.name for block in ALL_BLOCKS} >= {"README.md", "client.md", "migration.md"}
    assert len(NOT_RUN) <= MAX_NOT_RUN, [block.name for block in NOT_RUN]


def test_every_marker_is_attached_to_a_python_block() -> None:
    """A fragment or not-run comment sits right before a ```python block; none is stray."""
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if not _MARKER.match(line.strip()):
                continue
            after = number + 1
            while after < len(lines) and not lines[after].strip():
                after += 1
            assert after < len(lines) and lines[after].strip() == "```python", (
                f"{page.name}:{number + 1}: a marker must precede a ```python block"
            )


async def test_readme_example_prints_what_its_comment_says(
    docs_api: FakeDetectAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    """README's first example prints the verdict and score its comment promises."""
    first = blocks_of(ROOT / "README.md")[0]
    (printing,) = [line for line in first.source.splitlines() if "print(" in line]
    promised = printing.split("#", 1)[1].strip()
    await run_in_thread(first.chain())
    assert capsys.readouterr().out.strip() == promised
    url = re.search(r'url="([^"]+)"', first.source)
    assert url is not None
    _, label, score = outcome_for_name(url[1])
    assert promised == f"{label} {score}"


def test_the_blocks_of_a_page_are_collected_with_their_markers(tmp_path: Path) -> None:
    """Markers bind to the next block; `continues` chains to the block before it."""
    page = tmp_path / "page.md"
    page.write_text(
        "Intro.\n\n<!-- fragment: client -->\n```python\nx = 1\n```\n\n"
        "<!-- fragment: continues -->\n\n```python\nprint(x)\n```\n\n"
        '=== "Tab"\n\n    <!-- not-run: needs a real API key -->\n    ```python\n'
        "    import os\n    ```\n\n```sh\necho no\n```\n",
        encoding="utf-8",
    )
    first, second, third = blocks_of(page)
    assert (first.marker, first.line, first.source) == ("client", 5, "x = 1\n")
    assert second.marker == "continues" and second.chain() == [first, second]
    assert (third.marker, third.reason, third.source) == (
        "not-run",
        "needs a real API key",
        "import os\n",
    )


def test_a_failing_block_fails_its_test(tmp_path: Path) -> None:
    """A block that raises makes the run raise, naming the Markdown line."""
    page = tmp_path / "page.md"
    page.write_text("```python\nimport asyncio\n\n1 / 0\n```\n", encoding="utf-8")
    (block,) = blocks_of(page)
    with pytest.raises(ZeroDivisionError) as raised:
        run_chain([block])
    assert raised.traceback[-1].lineno == 3  # 0-based: line 4 of the page
