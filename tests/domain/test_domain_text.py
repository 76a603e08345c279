"""Text helpers: hygiene for payloads, safe one-line display, and plain-name templates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.text import (
    TemplateError,
    render_template,
    show,
    strip_control,
    template_fields,
    truncate,
    utf16_len,
)


def test_strip_control_keeps_layout_emoji_and_marks() -> None:
    text = "a\x00b\x1b\x7f\x85c\td\ne\rf 👩‍💻 \u200f\u202e <b>"
    assert strip_control(text) == ("abc\td\ne\rf 👩‍💻 \u200f\u202e <b>", 4)
    assert strip_control("lone \ud800 surrogate") == ("lone  surrogate", 1)


def test_truncate_marks_the_cut_and_counts_utf16() -> None:
    assert truncate("abcdef", 6) == "abcdef"
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("ab   cdef", 6) == "ab…"
    assert truncate("😀😀😀", 4) == "😀…"
    assert truncate("abc", 0) == ""
    assert utf16_len("a😀") == 3


@given(st.text(), st.integers(min_value=0, max_value=50))
def test_truncate_never_exceeds_the_limit(text: str, limit: int) -> None:
    cut = truncate(text, limit)
    assert utf16_len(cut) <= limit
    assert cut == text or cut.endswith("…") or cut == ""


def test_show_escapes_controls_and_bidi_overrides() -> None:
    assert show("a\nb") == "'a\\nb'"
    assert show("x\u202eexe.txt") == "'x\\u202eexe.txt'"
    assert show("y" * 80, limit=10) == "'yyyyyyyyy…'"


def test_templates_take_plain_names_only() -> None:
    values = {"number": "INC1", "short_description": "{number} ^OR"}
    assert (
        render_template("{number}: {short_description} {{literal}}", values) == "INC1: {number} ^OR {literal}"
    )
    assert render_template("{number!r:>8}", values) == "  'INC1'"
    assert template_fields("{a} {b:>3} {a}") == ["a", "b", "a"]
    for bad in ("{0}", "{}", "{a.b}", "{a[0]}", "{a:{b}}", "{", "}"):
        with pytest.raises(TemplateError):
            template_fields(bad)
    with pytest.raises(TemplateError, match="unknown field"):
        render_template("{caller}", values)
    with pytest.raises(TemplateError):
        render_template("{number:d}", values)
