"""Membership users: the site's registered visitors, who sign up on the public site."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from cms.models import User


class SignUpRefused(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def sign_up(username: str, email: str, password: str) -> User:
    """Create a membership user (never a Workarea user); refused with a message per field."""
    username = username.strip()
    errors: dict[str, str] = {}
    if not username:
        errors["username"] = "Choose a user name."
    elif User.objects.filter(username__iexact=username).exists():
        errors["username"] = "That user name is taken; choose another."
    candidate = User(username=username, email=email.strip(), kind=User.Kind.MEMBERSHIP)
    try:
        validate_password(password, candidate)
    except ValidationError as error:
        errors["password"] = " ".join(error.messages)
    if errors:
        raise SignUpRefused(errors)
    with transaction.atomic():
        candidate.set_password(password)
        candidate.save()
    return candidate
