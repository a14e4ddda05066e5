"""The public surface: what `resemble_detect_async` exports, and the demo CLI."""

from __future__ import annotations

import io
from types import ModuleType

import pytest

import resemble_detect_async
import resemble_detect_async.testing
from resemble_detect_async._cli import main
from resemble_detect_async.cli._demo import demo_media


@pytest.mark.parametrize("module", [resemble_detect_async, resemble_detect_async.testing])
def test_all_is_sorted_and_importable(module: object) -> None:
    """__all__ is sorted and every name in it exists (a guard against accidental API drift)."""
    names = module.__all__  # type: ignore[attr-defined]
    assert names == sorted(names)
    for name in names:
        assert hasattr(module, name), name


@pytest.mark.parametrize("module", [resemble_detect_async, resemble_detect_async.testing])
def test_every_public_name_is_exported(module: ModuleType) -> None:
    """Every public name in the namespace, submodules aside, is in __all__: no leaked imports."""
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert sorted(public - set(module.__all__)) == []


def test_version_is_a_string() -> None:
    """__version__ comes from the package metadata."""
    assert isinstance(resemble_detect_async.__version__, str)
    assert resemble_detect_async.__version__


def test_demo_media_mixes_types_and_one_failure() -> None:
    """The demo submits audio, images and video, and one file that will fail."""
    names = [name for name, _ in demo_media(24)]
    assert {name.rsplit(".", 1)[1] for name in names} == {"wav", "png", "mp4"}
    assert sum("fail" in name for name in names) == 1


def test_demo_media_works_for_any_count() -> None:
    """Large counts make valid media too (a grey level must stay a byte)."""
    media = demo_media(200)
    assert len(media) == 200
    assert all(data.startswith((b"RIFF", b"\x89PNG", b"\x00\x00\x00\x18ftyp")) for _, data in media)


def test_demo_runs_end_to_end_on_the_fake_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """`resemble-detect demo` submits, waits with progress, and prints every verdict."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE"):  # off a terminal: plain progress lines
        monkeypatch.delenv(name, raising=False)
    out = io.StringIO()
    assert main(["demo", "--count", "6", "--seconds", "0"], out=out) == 0
    text = out.getvalue()
    assert "fake Detect API" in text and "6/6 done" in text
    assert text.count("voicemail-") + text.count("photo-") + text.count("fail-") >= 6
    assert "analysis failed" in text  # the one file named "fail-..." (a DetectionFailedError)
    assert "6 results in" in text


def test_demo_live_without_key_explains(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--live without RESEMBLE_API_KEY says what to do instead of failing obscurely (exit 2)."""
    monkeypatch.delenv("RESEMBLE_API_KEY", raising=False)
    out = io.StringIO()
    assert main(["demo", "--live"], out=out) == 2
    assert "RESEMBLE_API_KEY" in capsys.readouterr().err


def test_demo_rejects_nonsense_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """A zero count is bad usage (exit 64), refused with a message."""
    out = io.StringIO()
    assert main(["demo", "--count", "0"], out=out) == 64
    assert "--count" in capsys.readouterr().err


async def test_pytest_plugin_fixtures(
    fake_detect_api: resemble_detect_async.testing.FakeDetectAPI,
    fake_detect_client: resemble_detect_async.DetectClient,
) -> None:
    """The public pytest fixtures give a running fake API and a client bound to it."""
    uuid = fake_detect_api.add_detection(polls_to_complete=2, label="fake")
    detection = await fake_detect_client.wait_for_result(uuid)
    assert detection.is_fake
    assert fake_detect_client.base_url == fake_detect_api.base_url
