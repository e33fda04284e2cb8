"""Direct reads of fleet module tables; whose module they belong to is decided by the loader."""

from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db import connection


def _scalar(sql: str) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return row[0] if row else None


def trips_count_quoted() -> int:
    return int(_scalar('SELECT count(*) FROM "trips_trip"'))


def trips_count_unquoted() -> int:
    return int(_scalar("select count(*) from trips_trip"))


def trips_count_upper() -> int:
    # PostgreSQL folds unquoted names to lower case: this is trips_trip.
    return int(_scalar("SELECT count(*) FROM TRIPS_TRIP"))


def trips_count_schema() -> int:
    return int(_scalar("SELECT count(*) FROM public.trips_trip"))


def trips_count_swallowed() -> int:
    """Reads trips' table and hides the refusal, as careless code might."""
    try:
        return trips_count_quoted()
    except Exception:
        return -1


def trips_count_orm() -> int:
    return apps.get_model("trips", "Trip").objects.count()


def riders_rename(display_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute('UPDATE "users_rider" SET "display_name" = %s', [display_name])
        return int(cursor.rowcount)


def invoices_count_orm() -> int:
    return apps.get_model("billing", "Invoice").objects.count()


def invoices_of_staff_count() -> int:
    """The module's own table joined to the user table (identity is platform)."""
    return int(
        _scalar(
            'SELECT count(*) FROM "billing_invoice" '
            'JOIN "accounts_user" ON "accounts_user"."id" = "billing_invoice"."rider_id" '
            'WHERE "accounts_user"."is_staff"'
        )
    )


def through(call: Callable[[], Any]) -> Any:
    """Calls ``call`` from this module's code, so this module's frame is on the stack."""
    return call()
