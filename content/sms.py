"""SMS text: GSM-7 versus UCS-2, segment counting, and making text GSM-7 where possible."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

__all__ = ["GSM7_BASIC", "GSM7_EXTENDED", "Segments", "count_segments", "to_sms_text"]

# The GSM 03.38 default alphabet and its extension table (each extension character costs two).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

_REPLACEMENTS = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2013": "-", "\u2014": "-", "\u2012": "-", "\u2010": "-", "\u2011": "-", "\u2212": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2022": "-", "\u00b7": "-",
    "\t": " ",
}  # fmt: skip
_MARKDOWN = [
    (re.compile(r"\[([^\]]+)\]\(([^)]+)\)"), r"\1 (\2)"),  # [text](url) -> text (url)
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"\1"),  # italic
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"^\s{0,3}#{1,6}\s*", re.MULTILINE), ""),  # headings
    (re.compile(r"^\s*[-*+]\s+", re.MULTILINE), "- "),  # list bullets
]


@dataclass(frozen=True)
class Segments:
    """How a text travels as SMS: its encoding, length in units and segment count."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int
    count: int


def _is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def count_segments(text: str) -> Segments:
    """Count SMS segments: GSM-7 160/153 per segment, else UCS-2 70/67 (UTF-16 units)."""
    if _is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if units == 0:
        return Segments(encoding, 0, 0)
    count = 1 if units <= single else -(-units // multi)
    return Segments(encoding, units, count)


def _fold_to_gsm7(ch: str) -> str:
    if ch in GSM7_BASIC or ch in GSM7_EXTENDED:
        return ch
    bare = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return bare if bare and _is_gsm7(bare) else ch


@functools.lru_cache(maxsize=1024)  # replies are the clinic's own texts, sent again and again
def to_sms_text(text: str) -> str:
    """Strip Markdown and swap typographic characters so the text stays GSM-7 where possible."""
    for pattern, replacement in _MARKDOWN:
        text = pattern.sub(replacement, text)
    text = "".join(_REPLACEMENTS.get(ch, ch) for ch in text)
    text = "".join(_fold_to_gsm7(ch) for ch in text)
    text = re.sub(r"[ ]{2,}", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
