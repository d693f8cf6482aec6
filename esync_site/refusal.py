"""Refusal: a precondition does not hold. The CLI shows the message and exits with code 3;
screens show it beside the action. Domain modules subclass it for their own refusals."""


class Refusal(Exception):
    """A precondition does not hold; the message says which and what to do."""
