"""One place that decides what of a petitioner a reader who is not entitled to it may see.

Why: citizens and clerks write names, phone numbers, ID numbers and e-mail addresses into every
free-text field (title, description, contact notes, replies, reasons). Masking only the
`petitioner` field leaked all of them to intake keys, other departments, Open311 readers and
the logs. Everyone but the owner, its co-handlers and admins gets text through `mask_text`.

What is masked, wherever it appears in a text:
* phone numbers: mobile (11 digits from 13–19), with or without +86 / 86 / 0086 / (+86), with
  any of `-`, `.`, space between digit groups; landlines with an area code (`0898-88661234`,
  `(0898) 8866 1234`) and their extension (`转8012`, `分机 8012`, `ext. 8012`); any other run
  of 13+ digits (card numbers, numbers run together);
* 18-digit resident ID numbers (last character a digit or X);
* e-mail addresses;
* the petitioner's own name (two characters or more), also with spaces or dots between its
  characters.
Full-width and other Unicode forms count as what they look like (`１３８５５５０１２３４`,
`138－5550－1234`, `138．5550．1234`, `＋８６`, `ＷＡＮＧ＠ＱＱ.ＣＯＭ`, an ideographic space):
matching runs on a copy of the text folded character by character, so the positions agree
and whatever is not masked keeps its original characters.
Order numbers (`SY…`), dates, times and short numbers stay as they are.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from typing import overload

# Dashes a writer may put between digit groups that NFKC leaves alone.
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63"), "-")


def _fold_char(c: str) -> str:
    if c.isascii():
        return c
    if ord(c) in _DASHES:
        return "-"
    try:
        return str(unicodedata.decimal(c))  # full-width and other script digits
    except ValueError:
        pass
    n = unicodedata.normalize("NFKC", c)
    return n if len(n) == 1 else c  # one character for one: positions stay aligned


def fold(text: str) -> str:
    """`text` with full-width letters, digits, separators (and other compatibility forms) as
    their ASCII look-alikes, character for character (same length, same positions)."""
    return text if text.isascii() else "".join(_fold_char(c) for c in text)


def _sub(pattern: re.Pattern, repl, original: str, folded: str) -> tuple[str, str]:
    """`pattern` matched on the folded text, each match replaced in both texts; parts that do
    not match keep their original characters."""
    out_o, out_f, pos = [], [], 0
    for m in pattern.finditer(folded):
        new = repl(m) if callable(repl) else repl
        out_o += [original[pos:m.start()], original[m.start():m.end()] if new == m.group(0) else new]
        out_f += [folded[pos:m.start()], fold(new)]
        pos = m.end()
    if not pos:
        return original, folded
    out_o.append(original[pos:])
    out_f.append(folded[pos:])
    return "".join(out_o), "".join(out_f)

# A run of digits with single separators, not glued to other digits and not an order number
# (SY20261126000001), with an optional country prefix; letters around it do not protect it
# ("tel13800001234" is a phone number).
_SEP = r"[-. \u00a0]"  # on folded text: full-width forms and the ideographic space included
_NUMBER_RUN = re.compile(
    r"(?<![0-9@])(?<!SY)"  # SY… is an order number, not a phone
    r"(?:(?:\(\+?86\)|\+86|0086|\+?86(?=" + _SEP + r"?1[3-9]))" + _SEP + r"?)?"  # country prefix
    r"(?:\(0\d{2,3}\)" + _SEP + r"?)?"  # area code in parentheses
    r"\d(?:" + _SEP + r"?\d){6,}"  # the digits
    r"[Xx]?"  # the check character of an ID number
    r"(?![0-9])"
    r"(?:\s?(?:转|分机|ext\.?|Ext\.?|EXT\.?|#)\s?\d{1,6}(?![0-9]))?",  # a landline's extension
    re.ASCII)
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
_ID = re.compile(r"^\d{17}[\dXx]$")


def mask_phone(phone: str) -> str:
    """A phone number shown masked: first three and last four digits."""
    digits = re.sub(r"[^0-9]", "", fold(phone or ""))
    digits = _mobile(digits) or digits  # +86 / 0086 dropped
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 8 else "****"


def mask_name(name: str) -> str:
    """A name shown masked: its first character, the rest as '*'."""
    return (name[0] + "*" * max(1, len(name) - 1)) if name else "*"


def _mobile(digits: str) -> str | None:
    """The 11-digit mobile number inside `digits` (country prefix dropped), if that is what it is."""
    for prefix in ("0086", "86", ""):
        rest = digits[len(prefix):]
        if digits.startswith(prefix) and len(rest) == 11 and rest[0] == "1" and rest[1] in "3456789":
            return rest
    return None


_EXTENSION = re.compile(r"(?<=[0-9Xx])(\s?(?:转|分机|ext\.?|Ext\.?|EXT\.?|#)\s?)[0-9]{1,6}$")


def _mask_run(m: re.Match) -> str:
    run = m.group(0)
    ext = _EXTENSION.search(run)
    if ext:  # the number before it decides; an extension of a masked landline goes too
        head = _NUMBER_RUN.match(run[:ext.start()])
        masked = _mask_run(head) if head and head.end() == ext.start() else run[:ext.start()]
        return masked + (ext.group(1) + "****" if masked != run[:ext.start()] else run[ext.start():])
    digits = re.sub(r"[^\dXx]", "", run)
    if _ID.match(digits):
        return digits[:2] + "*" * 14 + digits[-2:]
    if run[-1] in "Xx":  # not an ID number: the letter is just the next word
        before = _NUMBER_RUN.match(run[:-1])
        return _mask_run(before) + run[-1] if before else run
    number = _mobile(digits)
    if number is None and not (digits[0] == "0" and 10 <= len(digits) <= 12) and len(digits) < 13:
        return run  # a date, a time, an amount: nothing personal
    number = number or digits
    return number[:3] + "****" + number[-4:]


def _mask_email(m: re.Match) -> str:
    local = m.group(1)
    return f"{local[0]}***@{m.group(2)}"


def _name_pattern(name: str) -> re.Pattern | None:
    name = fold(name or "").strip()
    if len(name) < 2:
        return None  # a one-character "name" would mask ordinary words
    return re.compile(r"[\s.·・•_\-]*".join(re.escape(c) for c in name if not c.isspace()), re.IGNORECASE)


@overload
def mask_text(text: str, name: str = "", phone: str = "") -> str: ...
@overload
def mask_text(text: None, name: str = "", phone: str = "") -> None: ...
def mask_text(text: str | None, name: str = "", phone: str = "") -> str | None:
    """`text` with phone numbers, ID numbers, e-mail addresses and the petitioner's name masked.
    Idempotent: masking masked text changes nothing."""
    if not text:
        return text
    folded = fold(text)
    if phone:
        digits = re.sub(r"[^0-9]", "", fold(phone))
        if len(digits) >= 7:  # the petitioner's own number, even when short or oddly written
            forms = {digits, _mobile(digits) or digits}
            if digits[0] == "0" and 10 <= len(digits) <= 12:  # a landline, also without its area code
                forms |= {d for d in (digits[3:], digits[4:]) if len(d) >= 7}
            longest_first = sorted(forms, key=len, reverse=True)
            own = re.compile(r"(?<![0-9])(?:" + "|".join((_SEP + "?").join(d) for d in longest_first) + r")(?![0-9])")
            text, folded = _sub(own, mask_phone(digits), text, folded)
    text, folded = _sub(_EMAIL, _mask_email, text, folded)
    text, folded = _sub(_NUMBER_RUN, _mask_run, text, folded)
    pattern = _name_pattern(name)
    if pattern is not None:
        masked = mask_name(name.strip())
        for _ in range(4):  # a replacement next to the name's own characters cannot rebuild it
            new, folded = _sub(pattern, masked, text, folded)
            if new == text:
                break
            text = new
    return text


def mask_value(value, name: str = "", phone: str = ""):
    """Every string inside a JSON-like value (action details, pending requests) masked."""
    if isinstance(value, str):
        return mask_text(value, name, phone)
    if isinstance(value, dict):
        return {k: mask_value(v, name, phone) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v, name, phone) for v in value]
    return value


class MaskingFilter(logging.Filter):
    """Masks phone numbers, ID numbers and e-mail addresses in every record a handler writes,
    its traceback included: a message built from an exception or a library's own log line can
    carry what a citizen wrote (an SMS gateway's error, a validation error quoting its input)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def mask_log_handlers(logger: logging.Logger | None = None) -> None:
    """Put a MaskingFilter on every handler of `logger` (the root logger by default), once:
    records of every logger that propagates there are masked before they are written."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
