"""Run the fake Detect API as a standalone server.

Usage::

    python -m resemble_detect_async.testing --port 8765 --api-key test-key

``--rate-limit 40`` makes it refuse, with 429s, what the real API would refuse (§15).

The first line printed on stdout is the base URL (``http://127.0.0.1:8765/api/v2``); the server
runs until interrupted (Ctrl-C / SIGINT or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import signal
import sys
from collections.abc import Callable, Sequence

from aiohttp import web

from ._server import API_PREFIX, FakeDetectAPI

__all__ = ["build_parser", "main", "serve"]


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m resemble_detect_async.testing",
        description="Serve a fake Resemble Detect API (/api/v2) for tests and demos.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--api-key", default="test-key", help="accepted API key (default: %(default)s)"
    )
    parser.add_argument(
        "--polls-to-complete",
        type=int,
        default=1,
        help="GETs answered 'processing' before a detection is terminal (default: %(default)s)",
    )
    parser.add_argument(
        "--seconds-to-complete",
        type=float,
        default=None,
        help="complete detections after this many seconds instead of after polls",
    )
    parser.add_argument(
        "--intelligence-polls",
        type=int,
        default=0,
        help="GETs for which intelligence still shows 'processing' after the detect completed",
    )
    parser.add_argument(
        "--create-response-status",
        action="store_true",
        help="include 'status' in the async POST /detect response",
    )
    parser.add_argument(
        "--rate-limit",
        type=_positive_float,
        default=None,
        metavar="N",
        help="answer 429 to a request that would put more than N accepted requests in one "
        "sliding --rate-window (per API key, as the real API does, §15; default: no limit)",
    )
    parser.add_argument(
        "--rate-window",
        type=_positive_float,
        default=1.0,
        metavar="S",
        help="the window of --rate-limit, in seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--rate-retry-after",
        default=None,
        metavar="S",
        help="the Retry-After those 429s carry (default: none, as documented for the real API)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log every request (aiohttp access log)"
    )
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


async def serve(
    fake: FakeDetectAPI,
    host: str,
    port: int,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
    access_log: bool = False,
) -> None:
    """Serve *fake* on *host*:*port* until *stop* is set or SIGINT/SIGTERM arrives."""
    stop = stop if stop is not None else asyncio.Event()
    runner = web.AppRunner(
        fake.app,
        handler_cancellation=True,
        shutdown_timeout=0.5,
        access_log=logging.getLogger("aiohttp.access") if access_log else None,
    )
    await runner.setup()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = int(runner.addresses[0][1])
        shown_host = f"[{host}]" if ":" in host else host
        base_url = f"http://{shown_host}:{bound_port}{API_PREFIX}"
        if on_ready is not None:
            on_ready(base_url)
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # Windows / not the main thread
                continue
            handled.append(sig)
        await stop.wait()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m resemble_detect_async.testing``."""
    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    fake = FakeDetectAPI(
        api_key=args.api_key,
        polls_to_complete=args.polls_to_complete,
        seconds_to_complete=args.seconds_to_complete,
        intelligence_polls=args.intelligence_polls,
        create_response_status=args.create_response_status,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        rate_retry_after=args.rate_retry_after,
    )

    def ready(base_url: str) -> None:
        print(base_url, flush=True)
        print(
            f"Fake Resemble Detect API listening (API key: {args.api_key!r}); Ctrl-C to stop.",
            file=sys.stderr,
            flush=True,
        )

    with contextlib.suppress(KeyboardInterrupt):  # platforms without loop signal handlers
        asyncio.run(serve(fake, args.host, args.port, on_ready=ready, access_log=args.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
