"""The Twilio REST client: async, made inside the running loop, sent to TWILIO_API_BASE_URL."""

from __future__ import annotations

from typing import cast

from aiohttp import ClientSession, ClientTimeout, encode_basic_auth
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

__all__ = ["TWILIO_API", "RedirectingAsyncHttpClient", "TwilioRest", "open_rest"]

TWILIO_API = "https://api.twilio.com"
DEFAULT_TIMEOUT = 15.0


class RedirectingAsyncHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The SDK's aiohttp client with its own retries off and api.twilio.com rewritten.

    `max_retries` stays None: the SDK's retry wrapper re-POSTs on 5xx, which can send a
    message twice; our sender retries only what is safe to retry.
    """

    def __init__(self, base_url: str = TWILIO_API, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(pool_connections=False, max_retries=None)
        self.base_url = base_url.rstrip("/")
        self.session = ClientSession(timeout=ClientTimeout(total=timeout))

    def target(self, url: str) -> str:
        """Return where a request for `url` really goes: the base URL replaces api.twilio.com."""
        if url.startswith(TWILIO_API + "/"):
            return self.base_url + url.removeprefix(TWILIO_API)
        return url

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK interface; the session has ours
        allow_redirects: bool = False,
    ) -> Response:
        """Send one request to the configured base URL; the SDK's own retry never runs."""
        url = self.target(url)
        headers = dict(headers or {})
        if auth is not None:
            # aiohttp 3.14 deprecates the BasicAuth object the SDK would build.
            headers["Authorization"] = encode_basic_auth(auth[0], auth[1])
        async with self.session.request(
            method.upper(),
            url,
            params=cast("dict[str, str]", params),  # the SDK sends strings
            data=data,
            headers=headers,
            allow_redirects=allow_redirects,
        ) as response:
            return Response(response.status, await response.text(), response.headers)


class TwilioRest:
    """A Twilio client and the HTTP session under it; close it when the app stops."""

    def __init__(self, client: Client, http: RedirectingAsyncHttpClient) -> None:
        self.client = client
        self.http = http

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.http.close()


def open_rest(account_sid: str, auth_token: str, base_url: str = TWILIO_API) -> TwilioRest:
    """Create the client; call it inside the running event loop (aiohttp binds to it)."""
    http = RedirectingAsyncHttpClient(base_url)
    return TwilioRest(Client(account_sid, auth_token, http_client=http), http)
