"""Load a demo fleet: vehicles, riders, staff, tariffs, completed trips with their invoices.

Riders get welcome credit, and more when a booking would need it: booking a trip holds some
of the rider's credit (``trips.api.booking_credit_amount``).

Everything goes through the modules' front doors (``api.py``), so the demo obeys the same
rules as real traffic. Running it again changes nothing: every step looks for what it would
create first. Random choices come from a fixed seed, so every machine gets the same fleet.
"""

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from modules.billing import api as billing_api
from modules.trips import api as trips_api
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.platform.access import Role
from monolith.platform.outbox.machinery import outbox_deliver_pending
from monolith.platform.roles import roles_ensure

SEED = 20261125
# Berlin, where the demo fleet drives.
CITY_LATITUDE = Decimal("52.5200")
CITY_LONGITUDE = Decimal("13.4050")
VIN_PREFIXES = ("5YJ3E1EA", "1G1FY6S0", "WBA7E2C5", "JTDKARFU", "3FA6P0SU")
MODELS = (
    ("Zoox", "Robotaxi", 4),
    ("Waymo", "Jaguar I-PACE", 4),
    ("Cruise", "Origin", 6),
    ("Baidu", "RT6", 4),
    ("Motional", "Ioniq 5", 4),
)
RIDER_PASSWORD = "fleet-rider-demo"  # noqa: S105
DECLINING_RIDERS = {"rider07", "rider14"}  # their cards decline, so failed payments show up


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: Role | None
    superuser: bool = False


JOB_TITLES = {
    Role.RIDER: "",
    Role.FLEET_STAFF: "Fleet operations",
    Role.MIGRATION_TEAM: "Platform migration",
}
STAFF_ACCOUNTS = (
    DemoAccount("admin", "fleet-admin-demo", None, superuser=True),
    DemoAccount("staff", "fleet-staff-demo", Role.FLEET_STAFF),
    DemoAccount("migration", "fleet-migration-demo", Role.MIGRATION_TEAM),
)


def _vin(index: int) -> str:
    """A stable, valid VIN per fleet position: maker prefix, model year digit, serial."""
    prefix = VIN_PREFIXES[index % len(VIN_PREFIXES)]
    return vehicles_api.vin_complete(f"{prefix}0{index % 10}F{index:06d}")


def _near_city(rng: random.Random, spread: float = 0.08) -> tuple[Decimal, Decimal]:
    latitude = CITY_LATITUDE + Decimal(str(round(rng.uniform(-spread, spread), 6)))
    longitude = CITY_LONGITUDE + Decimal(str(round(rng.uniform(-spread, spread), 6)))
    return latitude, longitude


class Command(BaseCommand):
    help = "Load demo data: 200 vehicles, 20 riders, staff, tariffs, trips and invoices."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--vehicles", type=int, default=200, help="fleet size (default 200)")
        parser.add_argument("--riders", type=int, default=20, help="riders (default 20)")
        parser.add_argument(
            "--trips-per-rider", type=int, default=3, help="completed trips each (default 3)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("vehicles", "riders", "trips_per_rider"):
            if options[name] < 0:
                raise CommandError(f"--{name.replace('_', '-')} must be 0 or more.")
        rng = random.Random(SEED)  # noqa: S311 - demo data, not secrets
        roles_ensure()
        with transaction.atomic():
            self._accounts()
            added_vehicles = self._vehicles(rng, options["vehicles"])
            self._tariff()
            riders = self._riders(options["riders"])
        added_trips = self._trips(rng, riders, options["trips_per_rider"])
        # Without a worker running, the demo delivers its events itself (the same relay and
        # delivery code the worker runs), so the completed trips have their invoices now.
        delivered = outbox_deliver_pending()
        self.stdout.write(
            f"Delivered {delivered} events in this process (invoices for completed trips); "
            "a running worker would have done the same."
        )
        self._report(added_vehicles, len(riders), added_trips)

    def _accounts(self) -> None:
        users = get_user_model()
        for number, account in enumerate(STAFF_ACCOUNTS, start=1):
            user = users.objects.filter(username=account.username).first()
            if user is None:
                user = users.objects.create_user(
                    username=account.username,
                    password=account.password,
                    email=f"{account.username}@fleet.example",
                    is_staff=account.superuser or account.role is Role.FLEET_STAFF,
                    is_superuser=account.superuser,
                )
            if account.role is not None:
                user.groups.add(Group.objects.get(name=account.role.value))
                users_api.staff_profile_ensure(
                    user_id=user.pk,
                    employee_number=f"EMP-{number:04d}",
                    depot="Berlin Mitte",
                    job_title=JOB_TITLES[account.role],
                )

    def _tariff(self) -> None:
        now = timezone.now()
        try:
            billing_api.tariff_in_force(at=now)
        except billing_api.NoTariffInForce:
            billing_api.tariff_create(
                name="Berlin standard",
                base_fare=Decimal("2.50"),
                per_km=Decimal("1.20"),
                per_minute=Decimal("0.25"),
                minimum_fare=Decimal("6.00"),
                effective_from=now.replace(
                    month=1, day=1, hour=0, minute=0, second=0, microsecond=0
                ),
            )

    def _vehicles(self, rng: random.Random, count: int) -> int:
        added = 0
        for index in range(count):
            vin = _vin(index)
            if vehicles_api.vehicle_find_by_vin(vin=vin) is not None:
                continue
            make, model, seats = MODELS[index % len(MODELS)]
            latitude, longitude = _near_city(rng)
            vehicle = vehicles_api.vehicle_register(
                vin=vin,
                make=make,
                model=model,
                seats=seats,
                latitude=latitude,
                longitude=longitude,
                battery_pct=rng.randint(12, 100),
            )
            added += 1
            # A realistic spread: some charging, a few in the workshop or out of contact.
            status = {0: "charging", 1: "charging", 2: "maintenance", 3: "offline"}.get(index % 25)
            if status:
                vehicles_api.vehicle_status_change(
                    vehicle_id=vehicle.id, status=status, reason="demo data"
                )
        return added

    def _riders(self, count: int) -> list[users_api.RiderSummary]:
        riders = []
        for number in range(1, count + 1):
            username = f"rider{number:02d}"
            rider = users_api.rider_find_by_username(username=username)
            if rider is None:
                rider = users_api.rider_register(
                    username=username,
                    email=f"{username}@riders.example",
                    password=RIDER_PASSWORD,
                    display_name=f"Demo Rider {number:02d}",
                )
                # Only for riders the demo creates: a rider's own later choices stay theirs.
                card = "tok_chargeDeclined" if username in DECLINING_RIDERS else "tok_visa"
                billing_api.payment_method_set(rider_id=rider.id, card_token=card)
            users_api.credit_top_up(
                rider_id=rider.id, amount=Decimal("50.00"), reference="demo-welcome-credit"
            )
            riders.append(rider)
        return riders

    def _trips(self, rng: random.Random, riders: list[users_api.RiderSummary], each: int) -> int:
        added = 0
        for rider in riders:
            if trips_api.trip_active_for_rider(rider_id=rider.id) is not None:
                continue  # someone is riding right now; the demo leaves them be
            history = trips_api.trip_list_for_rider(rider_id=rider.id, limit=200)
            done = sum(1 for trip in history if trip.status == "completed")
            for ordinal in range(done + 1, each + 1):
                origin = _near_city(rng, spread=0.05)
                destination = _near_city(rng, spread=0.05)
                self._booking_credit_ensure(rider, ordinal)
                with transaction.atomic():
                    try:
                        trip = trips_api.trip_request(
                            rider_id=rider.id,
                            origin_latitude=origin[0],
                            origin_longitude=origin[1],
                            destination_latitude=destination[0],
                            destination_longitude=destination[1],
                        )
                    except vehicles_api.NoVehicleAvailable:
                        self.stderr.write("No vehicle is available for more demo trips.")
                        return added
                    trips_api.trip_start(trip_id=trip.id)
                    trips_api.trip_complete(
                        trip_id=trip.id,
                        distance_km=Decimal(str(round(rng.uniform(1.5, 18.0), 2))),
                        duration_seconds=rng.randint(6 * 60, 45 * 60),
                    )
                added += 1
        return added

    def _booking_credit_ensure(self, rider: users_api.RiderSummary, ordinal: int) -> None:
        """Top the rider up for their ``ordinal``-th demo trip if too little credit is left.

        A booking holds credit until billing settles the trip. The reference names the trip
        and the amount, so a second run (or a changed setting) never tops up twice.
        """
        amount = trips_api.booking_credit_amount()
        if users_api.wallet_get(rider_id=rider.id).available.amount >= amount:
            return
        users_api.credit_top_up(
            rider_id=rider.id, amount=amount, reference=f"demo-booking-{ordinal}-{amount}"
        )

    def _report(self, vehicles: int, riders: int, trips: int) -> None:
        write = self.stdout.write
        write(
            self.style.SUCCESS(
                f"Demo data ready ({timezone.now():%Y-%m-%d %H:%M} UTC): "
                f"{vehicles} vehicles added, "
                f"{riders} riders, {trips} trips completed in this run."
            )
        )
        write("Logins (username / password):")
        for account in STAFF_ACCOUNTS:
            role = "superuser" if account.superuser else account.role.value if account.role else ""
            write(f"  {account.username:<10} / {account.password:<22} {role}")
        write(f"  rider01..rider{riders:02d} / {RIDER_PASSWORD:<22} rider")
        write("Admin: /admin/   API docs: /api/docs/   API: /api/v1/")
