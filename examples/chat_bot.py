"""A chat-bot style handler: answers "checking..." at once, then the verdict when it is in.

    python examples/chat_bot.py

Messages arrive on an ``asyncio.Queue`` (a stand-in for your chat platform's event stream).
Each message is handled in its own task, and each link in it is checked concurrently, so a
long video never delays the replies to other messages: waiting for a verdict is an
``await``, not a blocked thread. All tasks share one DetectClient, whose limits (32
requests in flight, 40 per second) keep the bot within the API's rate limit however many
people post at once.

Without RESEMBLE_API_KEY it runs on the embedded fake Detect API with a few sample
messages (the fake fails any media whose name contains "fail").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from resemble_detect_async import (
    DetectClient,
    DetectionFailedError,
    ResembleError,
    WaitTimeoutError,
)
from resemble_detect_async.testing import FakeDetectAPI, fake_client

LINK = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class Message:
    """An incoming chat message."""

    chat: str
    text: str


@dataclass(frozen=True)
class Reply:
    """An outgoing chat message."""

    chat: str
    text: str


@contextlib.asynccontextmanager
async def detect_client() -> AsyncIterator[DetectClient]:
    """The real API when RESEMBLE_API_KEY is set, else the embedded fake Detect API."""
    if os.environ.get("RESEMBLE_API_KEY"):
        async with DetectClient() as client:
            yield client
        return
    async with FakeDetectAPI() as fake, fake_client(fake) as client:
        print(f"(RESEMBLE_API_KEY is not set: using the fake Detect API at {fake.base_url})")
        yield client


class DeepfakeBot:
    """Checks every media link posted in a chat and replies with the verdict.

    Args:
        client: the shared DetectClient.
        send: how to post a reply on your platform.
        timeout: how long to wait for one verdict before telling the chat it is still
            running (the analysis goes on; the uuid is in the reply).
    """

    def __init__(
        self,
        client: DetectClient,
        send: Callable[[Reply], Awaitable[None]],
        *,
        timeout: float = 600.0,
    ) -> None:
        self.client = client
        self.send = send
        self.timeout = timeout

    async def run(self, inbox: asyncio.Queue[Message | None]) -> None:
        """Handle messages until a ``None`` arrives, then finish the checks in progress."""
        async with asyncio.TaskGroup() as tasks:
            while (message := await inbox.get()) is not None:
                tasks.create_task(self.handle(message))

    async def handle(self, message: Message) -> None:
        """Check each link of one message, concurrently."""
        links = LINK.findall(message.text)
        await asyncio.gather(*(self.check(message.chat, link) for link in links))

    async def check(self, chat: str, link: str) -> None:
        """One link: acknowledge at once, reply again when the verdict is in."""
        await self.send(Reply(chat, f"Checking {link} ..."))
        try:
            detection = await self.client.create_and_wait(url=link, timeout=self.timeout)
        except DetectionFailedError as err:
            text = f"I couldn't analyse {link}: {err.error_message or 'unknown reason'}"
        except WaitTimeoutError as err:
            text = f"{link} is still being analysed (id {err.uuid}); I'll need more time."
        except ResembleError as err:  # the API refused it or could not be reached
            text = f"Sorry, checking {link} failed: {err}"
        else:
            score = f"{detection.score:.0%}" if detection.score is not None else "n/a"
            if detection.is_fake:
                text = f"Warning: {link} looks like a deepfake (score {score})."
            else:
                text = f"{link} looks authentic (deepfake score {score})."
        await self.send(Reply(chat, text))


SAMPLE = [
    Message("family", "Is this really grandma? https://media.example.com/voicemail-grandma.wav"),
    Message("news", "Two clips: https://example.com/speech.mp4 https://example.com/photo.png"),
    Message("family", "and this one https://media.example.com/failing-recording.wav"),
    Message("news", "no links here"),
]


async def main() -> int:
    """Feed the sample messages to the bot and print its replies."""

    async def send(reply: Reply) -> None:
        print(f"[{reply.chat}] bot: {reply.text}")

    inbox: asyncio.Queue[Message | None] = asyncio.Queue()
    for message in [*SAMPLE, None]:
        inbox.put_nowait(message)
    async with detect_client() as client:
        await DeepfakeBot(client, send).run(inbox)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
