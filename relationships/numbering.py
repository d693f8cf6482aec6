"""Server numbers when two instances pair (the manual's "The Server Number").

The originating server is 1 and each new server takes the next number of the configuration.
We read "originating" as the source of the initial copy: its data (and keys) survive. Each
instance remembers the highest number it has seen, and numbers are handed out above it, so
a number never repeats, even after relationships are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from esync_site.refusal import Refusal
from relationships.models import ID_RANGE_SIZE
from relationships.server_identity import assign_server_number, get_server_info

# Server N allocates ids in ((N-1)·size, N·size]: every range must fit in a 63-bit key.
MAX_SERVER_NUMBER = (2**63 - 1) // ID_RANGE_SIZE
# A configuration grows by a server at a time; a peer claiming far more servers than this
# instance has heard of is wrong or hostile, and would use up the numbers for everyone.
MAX_NUMBER_JUMP = 1000


class NumberingRefused(Refusal):
    """A peer's numbering state that this instance does not accept (nothing changed)."""


@dataclass(frozen=True)
class Numbering:
    number: int | None
    highest_known: int

    def as_dict(self) -> dict:
        return {"number": self.number, "highest_known": self.highest_known}


def read_peer_numbering(payload: object, ours: Numbering) -> tuple[Numbering, bool]:
    """A pairing request's (numbering, we_are_source), checked against ours."""
    if not isinstance(payload, dict):
        raise NumberingRefused("a pairing request is a JSON object {number, highest_known, "
                               "you_are}")
    number, highest, role = payload.get("number"), payload.get("highest_known"), \
        payload.get("you_are")
    if number is not None and (type(number) is not int
                               or not 1 <= number <= MAX_SERVER_NUMBER):
        raise NumberingRefused(f"number must be empty or a whole number from 1 to "
                               f"{MAX_SERVER_NUMBER}")
    if type(highest) is not int or not 0 <= highest <= MAX_SERVER_NUMBER - 1:
        raise NumberingRefused(f"highest_known must be a whole number from 0 to "
                               f"{MAX_SERVER_NUMBER - 1}")
    if role not in ("source", "destination"):
        raise NumberingRefused("you_are is source or destination")
    if number is not None and number == ours.number:
        raise NumberingRefused(f"the peer says it is server number {number}, which is this "
                               "instance's own: two servers of one number would hand out the "
                               "same IDs")
    known_here = max(ours.highest_known, ours.number or 0)
    claimed = max(highest, number or 0)
    if claimed > known_here + MAX_NUMBER_JUMP:
        raise NumberingRefused(
            f"the peer says server number {claimed} exists, this instance knows of "
            f"{known_here}: a jump of more than {MAX_NUMBER_JUMP} is refused (it would use "
            "up the numbers every server's ID range depends on)")
    return Numbering(number, highest), role == "source"


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
    if max(mine, other) > MAX_SERVER_NUMBER:
        raise NumberingRefused(f"no server number is left for a new server (numbers go up to "
                               f"{MAX_SERVER_NUMBER}, so that every ID range fits in 63 bits)")
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
