"""docs/samples/findings-to-teams.logicapp.json, the Logic App that posts raised findings to Teams: a
workflow definition Logic Apps' code view takes, that answers Event Grid's CloudEvents handshake, and whose
card reads only fields the app really publishes (an event sent by the app's own topic client to the
loopback topic, no Azure)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from devtools.events import SUB, at
from devtools.fake_topic import FakeTopic
from shared.answers import VmFinding, facts_of
from shared.domain.evidence import Origin, Source
from shared.domain.findings import FindingKind, Thresholds, findings_of
from shared.domain.ids import VmId
from shared.domain.inventory import OsType, Priority, VmSpec
from shared.domain.pricing import CostEstimate, CostReason, HourlyPrice
from shared.domain.pushed_events import FINDING_RAISED, Occurring, finding_key, raised_event
from shared.domain.vm_state import BillingPolicy, VmState
from shared.sources import FindingsTopic
from shared.store import CurrentRow
from shared.store._records import Condition, Span, Upkeep, VmProfile
from shared.web.pushed import finding_event_data

SAMPLE = Path(__file__).resolve().parents[1] / "docs" / "samples" / "findings-to-teams.logicapp.json"
SCHEMA = "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#"
# The top-level elements of a workflow definition (Learn, "Schema reference guide for the Workflow
# Definition Language in Azure Logic Apps").
DEFINITION_ELEMENTS = {"$schema", "contentVersion", "parameters", "triggers", "actions", "outputs"}
ORIGIN = "@{triggerOutputs()?['headers']?['WebHook-Request-Origin']}"
# What the workflow reads of the event: its Compose action "Event" holds the CloudEvent as delivered.
EVENT_READ = re.compile(r"outputs\('Event'\)((?:\?\['[^']+'\])+)")
KEY = "sample-topic-key"
NOW = at(hours=30)


def sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def actions_in(actions: dict[str, Any]) -> dict[str, Any]:
    """Every action, those inside conditions' branches too, by name."""
    found: dict[str, Any] = {}
    for name, action in actions.items():
        found[name] = action
        found |= actions_in(action.get("actions", {}))
        found |= actions_in(action.get("else", {}).get("actions", {}))
    return found


def test_the_sample_is_a_workflow_definition_with_a_request_trigger_taking_any_method():
    body = sample()
    definition = body["definition"]
    assert definition["$schema"] == SCHEMA and set(definition) == DEFINITION_ELEMENTS
    [trigger] = definition["triggers"].values()
    assert (trigger["type"], trigger["kind"]) == ("Request", "Http")
    assert "method" not in trigger["inputs"]  # a method named here would turn the OPTIONS handshake away
    assert set(body["parameters"]["$connections"]["value"]) == {"teams"}


def test_the_handshake_branch_echoes_the_request_origin_and_the_other_posts_the_card_to_teams():
    [condition] = sample()["definition"]["actions"].values()
    assert condition["type"] == "If" and ORIGIN.strip("@{}") in json.dumps(condition["expression"])
    [allow] = condition["actions"].values()
    assert (allow["type"], allow["inputs"]["statusCode"]) == ("Response", 200)
    assert allow["inputs"]["headers"]["WebHook-Allowed-Origin"] == ORIGIN
    delivery = condition["else"]["actions"]
    post = delivery["Post_card_in_a_chat_or_channel"]
    assert post["type"] == "ApiConnection" and post["inputs"]["method"] == "post"
    assert post["inputs"]["path"].startswith("/v1.0/teams/conversation/adaptivecard/poster/")
    assert "['teams']" in post["inputs"]["host"]["connection"]["name"]
    answers = {action["inputs"]["statusCode"]: action["runAfter"] for action in delivery.values()
               if action["type"] == "Response"}  # fmt: skip
    assert answers == {
        200: {"Post_card_in_a_chat_or_channel": ["Succeeded"]},
        503: {"Post_card_in_a_chat_or_channel": ["Failed", "TimedOut"]},  # Event Grid retries it
    }


def test_every_action_runs_after_actions_of_its_own_branch():
    for branch in actions_in(sample()["definition"]["actions"]).values():
        for inner in (branch.get("actions", {}), branch.get("else", {}).get("actions", {})):
            for action in inner.values():
                assert set(action["runAfter"]) <= set(inner)


def stopped_vm(cost: CostEstimate) -> VmFinding:
    """A VM stopped (still billed) by a powerOff five hours ago, and its finding as the rules find it."""
    since = NOW - timedelta(hours=5)
    state = VmState("Succeeded", "stopped", False, False, True, since)
    cause = Origin(Source.EVENT, "Microsoft.Compute/virtualMachines/powerOff/action")
    spec = VmSpec("Standard_D2s_v5", "westeurope", OsType.LINUX, None, Priority.REGULAR, {"owner": "team-a"})
    row = CurrentRow(
        VmId(SUB, "rg-app", "web-01"),
        Condition(state, BillingPolicy.parse(None).label, cause),
        Span("tx|a", NOW - timedelta(hours=7), "tx|b", since),
        None,
        VmProfile(spec=spec, spec_at=NOW - timedelta(hours=1)),
        Upkeep(last_confirmed=NOW - timedelta(minutes=5)),
    )
    [finding] = findings_of(facts_of(row, NOW), Thresholds(), [FindingKind.STOPPED_BUT_BILLED])
    return VmFinding(row, finding, cost)


PRICED = CostEstimate(
    Decimal("0.48"), "USD", HourlyPrice(Decimal("0.096"), "USD", "D2s v5"), NOW - timedelta(hours=2)
)
UNPRICED = CostEstimate(None, "USD", None, None, CostReason.NO_PRICE)


def published(item: VmFinding, now: datetime) -> dict[str, Any]:
    """The raise event of ``item`` as the app's topic client puts it on the wire (as Event Grid delivers
    it with the CloudEvents schema)."""
    vm = item.current.vm
    key = finding_key(vm.subscription_key, vm.vm_key, item.finding.kind.value)
    occurring = Occurring(key, item.finding.since, vm.resource_id, finding_event_data(item))
    with FakeTopic(KEY) as topic:
        FindingsTopic(topic.endpoint, key=KEY, credential=None).send([raised_event(occurring, now)])
        [event] = topic.events
    return event


@pytest.mark.parametrize("cost", [PRICED, UNPRICED], ids=["priced", "unpriced"])
def test_every_field_the_card_reads_is_in_the_event_the_app_publishes(cost):
    event = published(stopped_vm(cost), NOW)
    assert event["type"] == FINDING_RAISED
    paths = {tuple(re.findall(r"\['([^']+)'\]", match)) for match in EVENT_READ.findall(SAMPLE.read_text())}
    assert ("data", "vmName") in paths and ("data", "estimatedCost", "amount") in paths
    for path in paths:
        value: Any = event
        for name in path:
            assert isinstance(value, dict) and name in value, f"the sample reads {path}, not in {event}"
            value = value[name]
    reason = event["data"]["estimatedCost"]["reason"]
    assert (reason is None) == (cost is PRICED)  # the card shows the reason when there is no amount
