"""Server numbers when two instances pair (the manual's "The Server Number").

The originating server is 1 and each new server takes the next number of the configuration.
We read "originating" as the source of the initial copy: its data (and keys) survive. Each
instance remembers the highest number it has seen, and numbers are handed out above it, so
a number never repeats, even after relationships are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from relationships.server_identity import assign_server_number, get_server_info


@dataclass(frozen=True)
class Numbering:
    number: int | None
    highest_known: int

    def as_dict(self) -> dict:
        return {"number": self.number, "highest_known": self.highest_known}


def decide(ours: Numbering, theirs: Numbering, we_are_source: bool) -> tuple[int, int, int]:
    """(our number, their number, highest number now known) after pairing."""
    highest = max(ours.highest_known, theirs.highest_known, ours.number or 0, theirs.number or 0)
    mine, other = ours.number, theirs.number
    if mine is None and other is None:
        mine, other = (1, 2) if we_are_source else (2, 1)
    elif mine is None:
        mine = highest + 1
    elif other is None:
        other = highest + 1
    return mine, other, max(highest, mine, other)


def current() -> Numbering:
    info = get_server_info()
    return Numbering(info.server_number, info.highest_known_number)


@transaction.atomic
def adopt(number: int, highest_known: int) -> None:
    info = get_server_info()
    if info.server_number != number:
        assign_server_number(number)
        info.refresh_from_db()
    if highest_known > info.highest_known_number:
        info.highest_known_number = highest_known
        info.save(update_fields=["highest_known_number"])
