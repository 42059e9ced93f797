"""Bytes to text: byte-order marks, an --encoding override, binary detection, clear errors for
undecodable input, and CRLF / lone CR to LF normalisation."""

from __future__ import annotations

import codecs

from .errors import CorpusError

# How much of a file the "mostly non-text" test looks at, and the share of control bytes
# above which it calls the file binary (the classic heuristic of Perl's -B and of file(1)).
SAMPLE_BYTES = 8192
BINARY_RATIO = 0.30

# Bytes that turn up in text: printable ASCII, \b \t \n \v \f \r, ESC (ANSI colour codes)
# and every byte >= 0x80 (UTF-8 sequences, or letters in an 8-bit codec such as cp1251: those
# deserve the "not valid UTF-8, try --encoding" message, not "binary").
_TEXT_BYTES = b"\b\t\n\v\f\r\x1b" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))

# Byte-order marks, longest first: the UTF-32-LE mark starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_BOM_OF = {codec: bom for bom, codec in _BOMS}
_ENCODING_HINT = "use a Python codec name such as utf-8, latin-1, cp1252 or utf-16"

Data = bytes | bytearray


def check_encoding(encoding: str) -> str:
    """Python's canonical name for a text codec; CorpusError for an unknown or non-text one."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise CorpusError(
            f"unknown encoding {encoding!r} given to --encoding; {_ENCODING_HINT}"
        ) from None
    # Codecs such as base64 or rot13 exist but do not turn bytes into text.
    if not getattr(info, "_is_text_encoding", True):
        raise CorpusError(
            f"{encoding!r} given to --encoding is not a text encoding; {_ENCODING_HINT}"
        )
    return info.name


def resolve_codec(data: Data, encoding: str | None) -> tuple[str, int]:
    """The codec to decode `data` with and the length of a byte-order mark to skip."""
    if encoding is None:
        for bom, codec in _BOMS:
            if data.startswith(bom):
                return codec, len(bom)
        return "utf-8", 0
    codec = check_encoding(encoding)
    # 'utf-16', 'utf-32' and 'utf-8-sig' consume their own mark; the explicit variants do not.
    bom = _BOM_OF.get(codec)
    return codec, len(bom) if bom and data.startswith(bom) else 0


def _is_wide(codec: str) -> bool:
    return codec.startswith(("utf-16", "utf-32"))


def binary_reason(data: Data, codec: str = "utf-8") -> str | None:
    """Why `data` looks binary rather than text in `codec` (None when it looks like text)."""
    if _is_wide(codec):
        # NUL bytes are normal in UTF-16/32; decode_bytes checks for NUL characters instead.
        return None
    nul = data.find(b"\x00")
    if nul >= 0:
        return f"it contains NUL bytes, the first at offset {nul}"
    sample = bytes(data[:SAMPLE_BYTES])
    if not sample:
        return None
    odd = len(sample.translate(None, _TEXT_BYTES))  # the control bytes left after deleting text
    if odd > BINARY_RATIO * len(sample):
        share = 100 * odd / len(sample)
        return f"{share:.0f}% of its first {len(sample):,} bytes are not text"
    return None


def decode_bytes(data: Data, label: str, encoding: str | None = None) -> str:
    """Text of `data` (a leading BOM dropped, newlines untouched); CorpusError if it is not text.

    `label` names the input in messages, e.g. "'notes.txt'".
    """
    codec, skip = resolve_codec(data, encoding)
    reason = binary_reason(data, codec)
    if reason:
        raise CorpusError(
            f"{label} looks like a binary file ({reason}); pass a plain text file",
            reason=f"binary content: {reason}",
        )
    with memoryview(data) as view:
        try:
            text = str(view[skip:], codec)
        except UnicodeDecodeError as err:
            offset = skip + err.start
            line = data.count(b"\n", 0, offset) + 1
            where = f"byte 0x{data[offset]:02x} at offset {offset}, line {line}"
            if encoding is None:
                raise CorpusError(
                    f"{label} is not valid UTF-8 ({where}); if it is Latin-1 or Windows text, "
                    "pass --encoding latin-1 (or cp1252)",
                    reason=f"not valid UTF-8 ({where})",
                ) from None
            raise CorpusError(
                f"{label} cannot be decoded as {codec} ({where}); check --encoding "
                "(latin-1 accepts any bytes)",
                reason=f"cannot be decoded as {codec} ({where})",
            ) from None
    if _is_wide(codec) and "\x00" in text:
        raise CorpusError(
            f"{label} looks like a binary file (it contains NUL characters); "
            "pass a plain text file",
            reason="binary content: NUL characters",
        )
    return text


def normalise_newlines(text: str) -> str:
    """CRLF and lone CR turned into LF; the same object back when there is no CR at all."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")
