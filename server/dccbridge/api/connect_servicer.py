"""The Connect / gRPC-Web face of the v1 service: a thin adapter from connectrpc's async API to
service.DccBridgeService. The core blocks (long-polls, event streams), so every call runs on a worker thread
and the event loop only moves bytes."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Executor
from typing import AsyncIterator, Callable

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext

from .service import CLIENT_HEADER, DccBridgeService, client_name
from .status import connect_error


class HttpCaller:
    """service.Caller for one HTTP call; the adapter reports the disconnect."""

    def __init__(self, ctx: RequestContext):
        headers = ctx.request_headers
        self.client = client_name(headers.get(CLIENT_HEADER, ""), ctx.client_address or "")
        self.authorization = headers.get("authorization", "")
        self._gone = threading.Event()
        self._callbacks: list[Callable[[], None]] = []

    def is_active(self) -> bool:
        return not self._gone.is_set()

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def disconnected(self) -> list[Callable[[], None]]:
        """Mark the caller gone (a stream waiting in the engine notices within its poll) and hand back the
        callbacks to run."""
        self._gone.set()
        return self._callbacks


class ConnectServicer:
    """Implements the generated service_connect.DccBridgeService protocol."""

    def __init__(self, service: DccBridgeService, executor: Executor):
        self.service = service
        self.executor = executor

    async def get_capabilities(self, request, ctx):
        return await self._unary(self.service.get_capabilities, request, ctx)

    async def submit(self, request, ctx):
        return await self._unary(self.service.submit, request, ctx)

    def run(self, request, ctx):
        return self._stream(self.service.run, request, ctx)

    def watch(self, request, ctx):
        return self._stream(self.service.watch, request, ctx)

    async def get_job(self, request, ctx):
        return await self._unary(self.service.get_job, request, ctx)

    async def cancel(self, request, ctx):
        return await self._unary(self.service.cancel, request, ctx)

    async def list_jobs(self, request, ctx):
        return await self._unary(self.service.list_jobs, request, ctx)

    # Live mode (api/live_service.py). The bidirectional `Live` needs HTTP/2; this face serves HTTP/1.1, where
    # the unary calls, WatchLive (a server stream) and PollLive (a long-poll) give the same session.
    def live(self, requests, ctx):
        raise ConnectError(Code.UNIMPLEMENTED, "Live (a bidirectional stream) needs gRPC over HTTP/2; over "
                                               "HTTP/1.1 use OpenLive, SendLiveFrame, WatchLive or PollLive, "
                                               "and CloseLive")

    async def open_live(self, request, ctx):
        return await self._unary(self.service.live.open_live, request, ctx)

    async def send_live_frame(self, request, ctx):
        return await self._unary(self.service.live.send_live_frame, request, ctx)

    def watch_live(self, request, ctx):
        return self._stream(self.service.live.watch_live, request, ctx)

    async def poll_live(self, request, ctx):
        return await self._unary(self.service.live.poll_live, request, ctx)

    async def close_live(self, request, ctx):
        return await self._unary(self.service.live.close_live, request, ctx)

    async def _unary(self, method, request, ctx: RequestContext):
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.executor, method, request, HttpCaller(ctx))
        except Exception as error:  # noqa: BLE001 - every error gets a status
            raise connect_error(error, ctx, self.service.metrics) from None

    async def _stream(self, method, request, ctx: RequestContext) -> AsyncIterator:
        loop = asyncio.get_running_loop()
        caller = HttpCaller(ctx)
        events = method(request, caller)  # a generator: nothing runs before the first next()
        ended = False
        try:
            while (event := await loop.run_in_executor(self.executor, next, events, None)) is not None:
                yield event
            ended = True
        except Exception as error:  # noqa: BLE001
            ended = True
            raise connect_error(error, ctx, self.service.metrics) from None
        finally:
            if not ended:  # the client went away (connectrpc cancels us, or closes this generator)
                for callback in caller.disconnected():
                    self.executor.submit(callback)
