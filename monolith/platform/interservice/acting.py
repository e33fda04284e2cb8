"""The account a call acts for, carried from the request that started it into onward calls.

Set when a deployable authenticates an internal token (a REST request the edge forwarded, or
an internal call), read by the client that signs the next hop; cleared when the request ends.
"""

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from django.core.signals import request_finished
from django.dispatch import receiver

acting_account_var: contextvars.ContextVar[UUID | None] = contextvars.ContextVar(
    "acting_account", default=None
)


def acting_account() -> UUID | None:
    return acting_account_var.get()


@contextmanager
def acting_as(account_id: UUID | None) -> Iterator[None]:
    token = acting_account_var.set(account_id)
    try:
        yield
    finally:
        acting_account_var.reset(token)


@receiver(request_finished, dispatch_uid="fleet-acting-account-clear")
def _acting_account_clear(**_: object) -> None:
    # A worker thread serves the next request with the same context.
    acting_account_var.set(None)
