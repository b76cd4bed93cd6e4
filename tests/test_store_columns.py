"""One module owns the columns of the ledger's VM rows: ``shared/store/_columns.py`` spells every one, and
no other module of the store spells any of them (they use its names), so a column is renamed or added in
one place and the stored format can be read off one page."""

from __future__ import annotations

import ast
from pathlib import Path

from shared.store import _columns

STORE = Path(__file__).resolve().parent.parent / "shared" / "store"
COLUMNS = {value for name, value in vars(_columns).items() if name.isupper() and isinstance(value, str)}


def spelt_columns(source: str) -> set[str]:
    """The column names ``source`` spells as string constants (f-string parts included)."""
    constants = {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    return constants & COLUMNS


def test_no_other_module_of_the_store_spells_a_column_of_the_vm_rows():
    spelt = {
        path.name: sorted(spelt_columns(path.read_text(encoding="utf-8")))
        for path in sorted(STORE.glob("*.py"))
        if path.name != "_columns.py"
    }
    assert {name: columns for name, columns in spelt.items() if columns} == {}


def test_the_check_finds_a_column_spelt_in_a_dict_or_an_f_string():
    assert spelt_columns('entity = {"memberOf": scale_set_id}') == {"memberOf"}
    assert spelt_columns('name = f"{prefix}PowerState"') == {"PowerState"}
    assert spelt_columns('"""A docstring that mentions ``memberOf``."""') == set()


def test_the_columns_module_names_every_column_the_ledger_writes():
    """Every column of the golden sample day's VM rows (those the store writes) has a name there."""
    import json

    golden = json.loads((STORE.parent.parent / "tests" / "data" / "golden" / "sample_day.json").read_text())
    written = {
        column
        for row in golden["rows"]
        if row["RowKey"].startswith(("tx|", "vm|"))
        for column in row
        if column not in ("PartitionKey", "RowKey")
    }
    prefixed = {prefix + name for prefix in (_columns.STATE, _columns.PREV) for name in COLUMNS}
    assert written - COLUMNS - prefixed == set()
