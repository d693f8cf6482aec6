"""Whole numbers typed or sent as text: a query parameter, a header, a form field, a command
argument. ASCII digits only — "²" and "٣" are digits to str.isdigit, and int() refuses the
first — and below 2^63, the largest id a database here can hold."""

LIMIT = 2**63


def whole_number(text: object) -> int | None:
    """The number the text spells, or None when it is not a whole number from 0 to 2^63-1."""
    if not isinstance(text, str) or not text or len(text) > 19 or \
            not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number < LIMIT else None
