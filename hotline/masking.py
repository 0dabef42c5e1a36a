"""One place that decides what of a petitioner a reader who is not entitled to it may see.

Why: citizens and clerks write names, phone numbers, ID numbers and e-mail addresses into every
free-text field (title, description, contact notes, replies, reasons). Masking only the
`petitioner` field leaked all of them to intake keys, other departments, Open311 readers and
the logs. Everyone but the owner, its co-handlers and admins gets text through `mask_text`.

What is masked, wherever it appears in a text:
* phone numbers: mobile (11 digits from 13–19), with or without +86 / 86 / 0086 / (+86), with
  any of `-`, `.`, space between digit groups; landlines with an area code (`0898-88661234`,
  `(0898) 8866 1234`); any other run of 13+ digits (card numbers, numbers run together);
* 18-digit resident ID numbers (last character a digit or X);
* e-mail addresses;
* the petitioner's own name (two characters or more), also with spaces or dots between its
  characters.
Order numbers (`SY…`), dates, times and short numbers stay as they are.
"""
from __future__ import annotations

import re

# A run of digits with single separators, not glued to other digits and not an order number
# (SY20261126000001), with an optional country prefix; letters around it do not protect it
# ("tel13800001234" is a phone number).
_SEP = r"[-. \u00a0]"
_NUMBER_RUN = re.compile(
    r"(?<![0-9@])(?<!SY)"  # SY… is an order number, not a phone
    r"(?:(?:\(\+?86\)|\+86|0086|\+?86(?=" + _SEP + r"?1[3-9]))" + _SEP + r"?)?"  # country prefix
    r"(?:\(0\d{2,3}\)" + _SEP + r"?)?"  # area code in parentheses
    r"\d(?:" + _SEP + r"?\d){6,}"  # the digits
    r"[Xx]?"  # the check character of an ID number
    r"(?![0-9])")
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
_ID = re.compile(r"^\d{17}[\dXx]$")


def mask_phone(phone: str) -> str:
    """A phone number shown masked: first three and last four digits."""
    digits = re.sub(r"\D", "", phone or "")
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


def _mask_run(m: re.Match) -> str:
    run = m.group(0)
    digits = re.sub(r"[^\dXx]", "", run)
    if _ID.match(digits):
        return digits[:2] + "*" * 14 + digits[-2:]
    if run[-1] in "Xx":  # not an ID number: the letter is just the next word
        return _mask_run(_NUMBER_RUN.match(run[:-1])) + run[-1] if _NUMBER_RUN.match(run[:-1]) else run
    number = _mobile(digits)
    if number is None and not (digits[0] == "0" and 10 <= len(digits) <= 12) and len(digits) < 13:
        return run  # a date, a time, an amount: nothing personal
    number = number or digits
    return number[:3] + "****" + number[-4:]


def _mask_email(m: re.Match) -> str:
    local = m.group(1)
    return f"{local[0]}***@{m.group(2)}"


def _name_pattern(name: str) -> re.Pattern | None:
    name = (name or "").strip()
    if len(name) < 2:
        return None  # a one-character "name" would mask ordinary words
    return re.compile(r"[\s.·]*".join(re.escape(c) for c in name if not c.isspace()))


def mask_text(text: str | None, name: str = "", phone: str = "") -> str | None:
    """`text` with phone numbers, ID numbers, e-mail addresses and the petitioner's name masked.
    Idempotent: masking masked text changes nothing."""
    if not text:
        return text
    if phone:
        digits = re.sub(r"\D", "", phone)
        if len(digits) >= 7:  # the petitioner's own number, even when short or oddly written
            pat = _SEP + "?"
            text = re.sub(r"(?<![0-9])" + pat.join(digits) + r"(?![0-9])", mask_phone(digits), text)
    text = _EMAIL.sub(_mask_email, text)
    text = _NUMBER_RUN.sub(_mask_run, text)
    pattern = _name_pattern(name)
    if pattern is not None:
        masked = mask_name(name.strip())
        for _ in range(4):  # a replacement next to the name's own characters cannot rebuild it
            new = pattern.sub(masked, text)
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
