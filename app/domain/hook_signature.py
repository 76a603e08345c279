"""Webhook signatures: Autotask's ``X-Hook-Signature`` and our ServiceNow notification signature.

Autotask sends ``X-Hook-Signature: sha1=<base64(HMAC-SHA1(SecretKey, body))>`` (api-contracts.md
2.5). Integrators report that the HMAC covers a .NET-escaped serialization of the payload, not the
bytes on the wire: inside JSON strings ``& < > ' " ` +`` and every non-ASCII character are written
as uppercase ``\\uXXXX`` (UTF-16 code units, so an emoji is a surrogate pair). N8N's Autotask node
verifies only after re-escaping that way. We cannot confirm which form a given tenant signs, so a
delivery is accepted when the signature matches either the raw body or its escaped form. The escaped
form is derived from the raw text, string literal by string literal; the JSON is never re-serialized
(key order, spacing and number formats stay exactly as sent).

Pure functions, no IO.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

# What .NET's default JavaScriptEncoder escapes among printable ASCII (api-contracts.md 2.5).
_ESCAPED_ASCII = frozenset("&<>'\"`+")
_SHORT_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def hook_signature(secret: str, body: bytes) -> str:
    """``sha1=<base64(HMAC-SHA1(secret, body))>``, the value Autotask sends in X-Hook-Signature."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha1).digest()
    return "sha1=" + base64.b64encode(digest).decode("ascii")


def sha256_signature(secret: str, body: bytes) -> str:
    """``sha256=<base64(HMAC-SHA256(secret, body))>``: what our ServiceNow business rule may send
    (``GlideCertificateEncryption.generateMac``) instead of the plain token."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode("ascii")


def _escape_char(char: str) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    if char in _ESCAPED_ASCII or code < 0x20 or code > 0x7E:
        units = char.encode("utf-16-be")
        return "".join(f"\\u{units[i]:02X}{units[i + 1]:02X}" for i in range(0, len(units), 2))
    return char


def dotnet_escaped(body: bytes) -> bytes | None:
    """The body with every JSON string literal re-escaped the .NET way; None when the body is not
    UTF-8 or a string literal is malformed (then only the raw form can match)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    out: list[str] = []
    position = 0
    length = len(text)
    while position < length:
        start = text.find('"', position)
        if start < 0:
            out.append(text[position:])
            break
        out.append(text[position:start])
        end = start + 1
        while end < length and text[end] != '"':
            end += 2 if text[end] == "\\" else 1
        if end >= length:
            return None  # unterminated string
        try:
            value = json.loads(text[start : end + 1])
        except ValueError:
            return None
        out.append('"' + "".join(_escape_char(char) for char in value) + '"')
        position = end + 1
    return "".join(out).encode("utf-8")


def _matches(expected: str, header: str) -> bool:
    return hmac.compare_digest(expected.encode("utf-8"), header.encode("utf-8"))


def signature_ok(key: str | None, body: bytes, header: str | None) -> bool:
    """True when ``header`` signs the raw body or its .NET-escaped form with ``key`` (never with
    an empty or missing key)."""
    if not key or not header:
        return False
    header = header.strip()
    if _matches(hook_signature(key, body), header):
        return True
    escaped = dotnet_escaped(body)
    return escaped is not None and escaped != body and _matches(hook_signature(key, escaped), header)
