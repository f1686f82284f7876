"""Realistic document images, recomputed from a small seed instead of being stored.

A document is a pure function of ``(table, doc_seed, version, updated_ms)``: its identity fields
(names, VIN, plate, policy number, ...) depend only on ``doc_seed``; a few fields change with
every ``version``. This keeps the generator's state O(documents) with a few integers per
document, while every revision still carries the full image, as QLDB writes it.

Every document uses the Ion types QLDB users store: strings, ints, decimals with a fixed scale
(``12.50``), millisecond timestamps with a non-UTC offset, DAY-precision dates, nested structs,
lists, a blob, booleans and a null.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from simulation import timestamps

Document = dict[str, Any]

_FIRST = ("Raul", "Brent", "Alexis", "Patrick", "Ana", "Mei", "Olu", "Sven", "Priya", "Luca")
_LAST = ("Lewis", "Logan", "Pena", "Miller", "Silva", "Chen", "Adeyemi", "Berg", "Nair", "Rossi")
_CITIES = (
    ("Everett", "WA", "98204"),
    ("Tacoma", "WA", "98402"),
    ("Kent", "WA", "98032"),
    ("Seattle", "WA", "98101"),
    ("Spokane", "WA", "99201"),
)
_MAKES = (
    ("Mercedes", "CLK 350"),
    ("Ford", "Mustang"),
    ("Tesla", "Model S"),
    ("Toyota", "Camry"),
    ("Honda", "Civic"),
)
_COLORS = ("Red", "Blue", "Black", "White", "Silver", "Green")
_OFFSETS = (-480, -420, 0, 60, 330, 540)
_COVERAGES = ("Liability", "Collision", "Comprehensive", "Uninsured")
_VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
_CENTS = Decimal("0.01")

_VERSION_MIX = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


def _cents(rng: random.Random, low: int, high: int) -> Decimal:
    """A decimal with exactly two fraction digits between ``low`` and ``high`` units."""
    return Decimal(rng.randrange(low * 100, high * 100)) * _CENTS


def _person(base: random.Random, change: random.Random, version: int, updated: Any) -> Document:
    city, state, zip_code = base.choice(_CITIES)
    first, last = base.choice(_FIRST), base.choice(_LAST)
    gov_id = f"{base.randrange(100, 999)} {base.randrange(100, 999)} {base.randrange(100, 999)}"
    new_city, new_state, new_zip = change.choice(_CITIES) if version else (city, state, zip_code)
    return {
        "FirstName": first,
        "LastName": last,
        "MiddleName": None,
        "DOB": timestamps.day(
            base.randrange(1940, 2004), base.randrange(1, 13), base.randrange(1, 29)
        ),
        "GovId": gov_id,
        "GovIdType": base.choice(("Driver License", "Passport")),
        "Address": {
            "Street": f"{change.randrange(1, 9999)} {base.choice(_LAST)} Ave",
            "City": new_city,
            "State": new_state,
            "Zip": new_zip,
        },
        "Emails": [f"{first.lower()}.{last.lower()}@example.com"] * (1 + version % 2),
        "Verified": change.random() < 0.7,
        "Revision": version,
        "UpdatedAt": updated,
    }


def _vehicle(base: random.Random, change: random.Random, version: int, updated: Any) -> Document:
    make, model = base.choice(_MAKES)
    return {
        "VIN": "".join(base.choices(_VIN_CHARS, k=17)),
        "Type": base.choice(("Sedan", "Truck", "Coupe", "Motorcycle")),
        "Year": base.randrange(1995, 2022),
        "Make": make,
        "Model": model,
        "Color": change.choice(_COLORS),
        "Price": _cents(change, 4_000, 90_000),
        "Mileage": version * 1_250 + change.randrange(0, 1_000),
        "Features": base.sample(("ABS", "GPS", "Sunroof", "Heated seats", "Tow hitch"), k=2),
        "Photo": base.randbytes(24),
        "Revision": version,
        "UpdatedAt": updated,
    }


def _registration(
    base: random.Random, change: random.Random, version: int, updated: Any
) -> Document:
    city, state, _ = base.choice(_CITIES)
    year = base.randrange(2015, 2021)
    plate = f"{base.randrange(100, 999)}{base.choice('ABCDEFGH')}{base.randrange(10, 99)}"
    return {
        "VIN": "".join(base.choices(_VIN_CHARS, k=17)),
        "LicensePlateNumber": plate,
        "State": state,
        "City": city,
        "PendingPenaltyTicketAmount": _cents(change, 0, 500),
        "ValidFromDate": timestamps.day(year, base.randrange(1, 13), base.randrange(1, 29)),
        "ValidToDate": timestamps.day(year + 4, base.randrange(1, 13), base.randrange(1, 29)),
        "Owners": {
            "PrimaryOwner": {"PersonId": "".join(base.choices(_VIN_CHARS, k=22))},
            "SecondaryOwners": [
                {"PersonId": "".join(change.choices(_VIN_CHARS, k=22))} for _ in range(version % 3)
            ],
        },
        "Revision": version,
        "UpdatedAt": updated,
    }


def _policy(base: random.Random, change: random.Random, version: int, updated: Any) -> Document:
    return {
        "PolicyNumber": f"POL-{base.randrange(10**7, 10**8)}",
        "Premium": _cents(change, 300, 4_000),
        "Deductible": Decimal(base.choice((250, 500, 1000))) * _CENTS * 100,
        "Active": change.random() < 0.9,
        "Coverage": [
            {"Kind": kind, "Limit": Decimal(base.randrange(10, 500) * 1000)}
            for kind in base.sample(_COVERAGES, k=2)
        ],
        "Signature": base.randbytes(32),
        "Notes": None,
        "Revision": version,
        "UpdatedAt": updated,
    }


def _generic(base: random.Random, change: random.Random, version: int, updated: Any) -> Document:
    return {
        "Name": f"{base.choice(_FIRST)}-{base.randrange(10**6)}",
        "Count": change.randrange(0, 10**6),
        "Amount": _cents(change, 0, 100_000),
        "Tags": base.sample(_COLORS, k=3),
        "Meta": {
            "Source": "simulation",
            "Shard": base.randrange(16),
            "Flag": change.random() < 0.5,
        },
        "Payload": base.randbytes(16),
        "Note": None,
        "Revision": version,
        "UpdatedAt": updated,
    }


_TEMPLATES: dict[str, Callable[[random.Random, random.Random, int, Any], Document]] = {
    "Person": _person,
    "Vehicle": _vehicle,
    "Registration": _registration,
    "Policy": _policy,
}

INDEXED_FIELD = {
    "Person": "GovId",
    "Vehicle": "VIN",
    "Registration": "LicensePlateNumber",
    "Policy": "PolicyNumber",
}
"""The field each known table is indexed on (``CREATE INDEX``); other tables use ``Name``."""


def make_document(table: str, doc_seed: int, version: int, updated_ms: int) -> Document:
    """Return the full image of a document at ``version``.

    Args:
        table: Ledger table name; unknown tables get a generic document shape.
        doc_seed: Per-document seed drawn by the planner.
        version: Document version (0 for the insert).
        updated_ms: Commit time of this version in epoch milliseconds; written as the
            ``UpdatedAt`` field with a per-document non-UTC offset.

    Returns:
        A new plain-Python document (dict/list/str/int/bool/None/Decimal/bytes/Timestamp).
        Equal arguments always give equal documents.
    """
    base = random.Random(doc_seed)
    change = random.Random((doc_seed + version * _VERSION_MIX) & _MASK)
    updated = timestamps.millis(updated_ms, _OFFSETS[doc_seed % len(_OFFSETS)])
    return _TEMPLATES.get(table, _generic)(base, change, version, updated)


def index_field(table: str) -> str:
    """Field the simulated ``CREATE INDEX`` of ``table`` covers."""
    return INDEXED_FIELD.get(table, "Name")
