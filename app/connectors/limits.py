"""What a hostile or broken server may cost us per call (docs/security.md).

- Bodies are read as a stream and cut off past ``max_bytes`` of decoded content
  (:class:`ResponseTooLarge`), so a server cannot fill the memory with one answer.
- Every call has an overall deadline besides httpx's per-read timeout: a server that drips a byte
  at a time stays within any read timeout forever (:class:`DeadlineExceeded`).
- Deeply nested JSON makes Python's parser raise ``RecursionError``, which is not a ``ValueError``:
  :func:`json_body` turns it into one so the clients report an unexpected answer.
- A large body is decoded once, in a worker thread (:func:`off_loop`): in the desktop app the event
  loop is the GUI thread, and a page of 500 records is ~10 ms of parsing.

Both errors are httpx transport errors, so each client's existing mapping applies: a read cut
short is a transient failure whose outcome is unknown for a write.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # a ServiceNow page of 10,000 wide records stays far below
LARGE_BODY_BYTES = 32 * 1024  # above this, decoding is worth a worker-thread hop

T = TypeVar("T")
_DECODED: weakref.WeakKeyDictionary[httpx.Response, Any] = weakref.WeakKeyDictionary()


def call_deadline(timeout: float) -> float:
    """The overall deadline of one call for a per-read ``timeout``: generous, but finite."""
    return max(60.0, timeout * 4)


class ResponseTooLarge(httpx.ReadError):
    """The answer passed the byte cap; the rest was not read."""


class DeadlineExceeded(httpx.ReadTimeout):
    """The call (connect, send, all reads) took longer than its overall deadline."""


async def bounded_request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    max_bytes: int = MAX_RESPONSE_BYTES,
    deadline: float,
    auth: Any = httpx.USE_CLIENT_DEFAULT,
    **options: Any,
) -> httpx.Response:
    """``client.request()`` with a byte cap on the answer and an overall deadline."""
    request = client.build_request(method, url, **options)
    try:
        async with asyncio.timeout(deadline):
            response = await client.send(request, stream=True, auth=auth)
            try:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise ResponseTooLarge(f"answer of {declared} bytes refused", request=request)
                parts: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise ResponseTooLarge(f"answer cut off after {max_bytes} bytes", request=request)
                    parts.append(chunk)
                response._content = b"".join(parts)
            finally:
                await response.aclose()
    except TimeoutError:
        raise DeadlineExceeded(f"no complete answer within {deadline:g} s", request=request) from None
    return response


def json_body(response: httpx.Response, *, keep: bool = False) -> Any:
    """``response.json()``; nesting too deep for the parser is a ``ValueError`` like any bad JSON.
    ``keep``: a check of the envelope that the page read follows; that read then takes the parsed
    body instead of parsing it again, and the body is let go (a response lives on in a reference
    cycle until a full collection, and its body with it if it were kept)."""
    if response in _DECODED:
        return _DECODED[response] if keep else _DECODED.pop(response)
    try:
        document = response.json()
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if keep:
        _DECODED[response] = document
    return document


async def off_loop(response: httpx.Response, work: Callable[[], T]) -> T:
    """``work()`` (which decodes ``response``) in a worker thread when the body is large, else here."""
    if len(response.content) < LARGE_BODY_BYTES:
        return work()
    return await asyncio.to_thread(work)
