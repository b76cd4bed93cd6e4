"""Offline checks of ``infra/bicep``'s conventions: descriptions on every param and output, lower camel
case symbols that are all used, stable API versions and no hard-coded cloud URLs, the linter on, no
secret in an output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.bicep_source import (
    BICEP_DIR,
    BICEP_FILES,
    decorator_of,
    description_of,
    functions_in,
    parsed,
    references_in,
    strings_in,
)

_LOWER_CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(BICEP_DIR).as_posix())
def test_every_param_and_output_has_a_description(path: Path) -> None:
    doc = parsed(path)
    undocumented = [
        f"{kind} {name}"
        for kind in ("parameters", "outputs")
        for name, element in doc.get(kind, {}).items()
        if not (description_of(element) or "").strip()
    ]
    assert undocumented == []


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(BICEP_DIR).as_posix())
def test_symbols_are_lower_camel_case_and_params_and_vars_are_used(path: Path) -> None:
    doc = parsed(path)
    symbols = [
        name
        for kind in ("parameters", "variables", "resources", "modules", "outputs")
        for name in doc.get(kind, {})
    ]
    # Nested resources appear as parent__child in pycep; each part is a symbol of its own.
    bad = [part for name in symbols for part in name.split("__") if not _LOWER_CAMEL.match(part)]
    assert bad == []
    used = references_in(path.read_bytes())
    unused = [name for kind in ("parameters", "variables") for name in doc.get(kind, {}) if name not in used]
    assert unused == []


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(BICEP_DIR).as_posix())
def test_api_versions_are_stable_and_cloud_urls_are_not_hardcoded(path: Path) -> None:
    doc = parsed(path)
    preview = [name for name, res in doc.get("resources", {}).items() if "preview" in res["api_version"]]
    assert preview == []
    # An ARM template's $schema (a policy's deployment in managementGroup.bicep) names the same schema in
    # every cloud: the Bicep linter's own default excludedhosts lets schema.management.azure.com through.
    text = path.read_text().lower().replace("https://schema.management.azure.com/schemas/", "")
    for host in ("core.windows.net", "management.azure.com", "azurewebsites.net", "login.microsoftonline"):
        assert host not in text


def test_bicepconfig_turns_the_linter_on() -> None:
    config = json.loads((BICEP_DIR / "bicepconfig.json").read_text())
    core = config["analyzers"]["core"]
    assert core["enabled"] is True
    rules = core["rules"]
    for rule in ("no-hardcoded-env-urls", "outputs-should-not-contain-secrets", "no-unused-params"):
        assert rules[rule]["level"] == "error"


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(BICEP_DIR).as_posix())
def test_outputs_hold_no_secrets(path: Path) -> None:
    for name, output in parsed(path).get("outputs", {}).items():
        assert decorator_of(output, "secure") is None, name
        assert not re.search(r"key|secret|password|connectionstring|token", name, re.IGNORECASE), name
        functions = {f.lower() for f in functions_in(output["value"])}
        assert not {f for f in functions if f.startswith("list")}, name
        assert not [s for s in strings_in(output["value"]) if "connectionstring" in s.lower()], name
