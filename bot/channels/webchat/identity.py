"""Who a web chat visitor is: a random token their browser keeps, stored only as a hash."""

from __future__ import annotations

import hashlib
import re
import secrets

__all__ = ["SCHEME", "TOKEN_HEADER", "new_token", "read_client_id", "token_hash", "urn_of"]

SCHEME = "web"
TOKEN_HEADER = "x-webchat-token"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 random bytes, URL-safe base64
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,40}")


def new_token() -> str:
    """Return a fresh random token (256 bits) for a new chat."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str | None:
    """Return the hex hash a token is stored under, or None if it is not a token of ours."""
    if not _TOKEN.fullmatch(token):
        return None
    # 160 bits: "web:" plus the hash fits an address URN (64 characters); the database never
    # holds the token itself, so reading it gives no way to post as the visitor.
    return hashlib.sha256(token.encode()).hexdigest()[:40]


def urn_of(hashed: str) -> str:
    """Return the address URN of a chat: "web:<token hash>"."""
    return f"{SCHEME}:{hashed}"


def read_client_id(value: object) -> str | None:
    """Return the browser's id for a message if well-formed, else None."""
    if isinstance(value, str) and _CLIENT_ID.fullmatch(value):
        return value
    return None
