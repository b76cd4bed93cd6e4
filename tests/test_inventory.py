"""The inventory refresh against tags that grow when written as JSON.

A row whose write storage refuses, and a row an event raced, are in ``test_inventory_batch.py`` (the
writes go 100 to a transaction there).

A Table string property holds at most 32K UTF-16 code units (64 KiB); Azurite enforces it as Azure does
(``PropertyValueTooLarge``). Tags are stored as one JSON text column, so what must be bounded is that
JSON: a control character is one character read and six written (``\\u0001``).
"""

from __future__ import annotations

import json

import pytest

from devtools.events import SUB, at, vm_id, wire_event
from devtools.fake_arm import FakeArm, make_vm
from shared.domain.ids import parse_vm_id
from shared.domain.inventory import MAX_TAG_NAME, MAX_TAG_VALUE, MAX_TAGS, MAX_TAGS_JSON, bound_tags
from shared.jobs import refresh_inventory
from shared.sources import ArmClient
from tests.factories import deliver

pytestmark = pytest.mark.azurite

CONTROL = "\x01"
# Tags as Azure could send them (50 tags, names up to 512 and values up to 256 characters) that grow
# when written as JSON: control characters (x6), quotes and backslashes (x2), and characters outside the
# Basic Multilingual Plane (one code point, two UTF-16 code units).
GROWING_TAGS = {
    "control": {
        f"{index:02d}" + CONTROL * (MAX_TAG_NAME - 2): CONTROL * MAX_TAG_VALUE for index in range(MAX_TAGS)
    },
    "escaped": {f"{index:02d}" + '"\\' * 255: '"' * MAX_TAG_VALUE for index in range(MAX_TAGS)},
    "astral": {
        f"{index:02d}" + "\U0001f600" * 510: "\U0001f600" * MAX_TAG_VALUE for index in range(MAX_TAGS)
    },
}


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def stored_tags(ledger, name: str) -> str:
    vm = parse_vm_id(vm_id(name))
    return ledger.table.get_entity(vm.subscription_key, f"vm|{vm.vm_key}")["tags"]


@pytest.mark.parametrize("kind", sorted(GROWING_TAGS))
def test_tags_are_bounded_by_the_json_that_is_stored(kind):
    kept, dropped = bound_tags(GROWING_TAGS[kind])
    written = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert utf16_units(written) <= MAX_TAGS_JSON
    assert kept and dropped == MAX_TAGS - len(kept)


def models(*names: str, tags: dict[str, dict[str, str]]) -> dict[str, list[dict]]:
    return {
        SUB: [make_vm(SUB, "rg-app", name, vm_size="Standard_D2s_v5", tags=tags.get(name)) for name in names]
    }


def refresh(ledger, fake: FakeArm):
    client = ArmClient(fake.url, "2024-07-01", retry_total=0)
    return refresh_inventory(
        ledger,
        SUB,
        lambda: client.iter_model_pages(SUB),
        clock=lambda: at(hours=2),
    )


def test_a_vm_whose_tags_grow_as_json_is_stored_within_the_limit_and_so_are_the_others(ledger):
    names = ("a-plain", "b-control", "c-plain")
    for name in names:
        deliver(wire_event("write", at(hours=1), resource_id=vm_id(name)))
    listing = models(*names, tags={"a-plain": {"owner": "ada"}, "b-control": GROWING_TAGS["control"]})
    with FakeArm(listing) as fake:
        report = refresh(ledger, fake)
    assert (report.failure, report.listed, report.updated) == (None, 3, 3)
    written = stored_tags(ledger, "b-control")
    assert utf16_units(written) <= MAX_TAGS_JSON
    spec = ledger.get_current(parse_vm_id(vm_id("b-control"))).profile.spec
    assert spec.tags_dropped == MAX_TAGS - len(spec.tags) > 0
    assert json.loads(written) == dict(spec.tags)
    assert ledger.get_current(parse_vm_id(vm_id("c-plain"))).profile.spec.vm_size == "Standard_D2s_v5"
