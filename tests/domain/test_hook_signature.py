"""Autotask webhook signatures: the raw body, or the .NET-escaped serialization Autotask signs.

Integrators (N8N's Autotask node, api-contracts.md 2.5) verify only after re-escaping
``& < > ' " ` +`` and every non-ASCII character inside JSON strings as uppercase ``\\uXXXX``.
"""

from __future__ import annotations

import json

from app.domain.hook_signature import dotnet_escaped, hook_signature, signature_ok

SECRET = "s3cret"


def test_escaped_form_of_special_and_non_ascii_characters() -> None:
    raw = '{"Fields":{"title":"Café & +1 <b>\'x\'</b> `q` \\"quoted\\" 🔥"},"Id":7}'.encode()
    assert dotnet_escaped(raw) == (
        b'{"Fields":{"title":"Caf\\u00E9 \\u0026 \\u002B1 \\u003Cb\\u003E\\u0027x\\u0027\\u003C/b\\u003E '
        b'\\u0060q\\u0060 \\u0022quoted\\u0022 \\uD83D\\uDD25"},"Id":7}'
    )


def test_escaping_touches_only_string_contents() -> None:
    raw = b'{"a" : [1, 2.5e+3, true, null], "b":"x/y\\n\\\\"}'
    assert dotnet_escaped(raw) == b'{"a" : [1, 2.5e+3, true, null], "b":"x/y\\n\\\\"}'
    already = b'{"t":"Caf\\u00e9"}'
    assert dotnet_escaped(already) == b'{"t":"Caf\\u00E9"}'


def test_plain_ascii_body_is_unchanged() -> None:
    raw = json.dumps({"Action": "Update", "EntityType": "Ticket", "Id": 1}).encode()
    assert dotnet_escaped(raw) == raw


def test_signature_checks_both_forms() -> None:
    raw = '{"title":"Café & co"}'.encode()
    escaped = dotnet_escaped(raw)
    assert escaped != raw
    assert signature_ok(SECRET, raw, hook_signature(SECRET, raw))
    assert signature_ok(SECRET, raw, hook_signature(SECRET, escaped))
    assert not signature_ok(SECRET, raw, hook_signature("other", escaped))
    assert not signature_ok("", raw, hook_signature("", raw))
    assert not signature_ok(None, raw, hook_signature(SECRET, raw))


def test_invalid_utf8_or_unterminated_body_checks_the_raw_form_only() -> None:
    for raw in (b'{"t":"\xff"}', b'{"t":"open'):
        assert dotnet_escaped(raw) is None
        assert signature_ok(SECRET, raw, hook_signature(SECRET, raw))
        assert not signature_ok(SECRET, raw, hook_signature(SECRET, raw + b"x"))
