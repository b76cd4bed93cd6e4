"""Virtual Machines - Instance View: one VM's run-time status now, read when a health event arrives.

``GET {vm id}/instanceView?api-version=...`` answers the instance view itself (``statuses[]`` at the top,
no ``properties`` wrapper; published example ``VirtualMachine_Get_InstanceView.json``). A scale set
instance answers the same shape at ``{instance id}/instanceView``, so the URL is always the target's id
plus ``/instanceView``. Only the top-level ``statuses`` are the VM's: the agent's and the disks' carry
``ProvisioningState/...`` codes too. The instance view says what the VM is doing now, not since when.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from azure.core import PipelineClient
from azure.core.exceptions import AzureError
from azure.core.rest import HttpRequest, HttpResponse

from shared.domain.ids import VmId
from shared.errors import UpstreamUnavailable
from shared.sources._pager import describe_error, error_code, resource_not_found
from shared.sources.vm_listing import ListedVm, listed_from_statuses

SERVICE = "Resource Manager"


def instance_view_path(vm: VmId) -> str:
    """The path of the target's instance view: its resource id plus ``/instanceView``."""
    return f"{vm.resource_id}/instanceView"


def read_instance_view(
    pipeline: PipelineClient[HttpRequest, HttpResponse], url: str, api_version: str, vm: VmId, timeout: float
) -> ListedVm | None:
    """The VM's status from its instance view; ``None`` when Resource Manager says it does not exist
    (404 ``ResourceNotFound``).

    Throttling (429 with ``Retry-After``) and 5xx are retried by the pipeline; what still fails raises
    ``UpstreamUnavailable``, so that the event that asked is delivered again. So does any other 404: it
    does not prove the VM is gone, and reading it as gone would record a deletion.
    """
    request = HttpRequest("GET", url, params={"api-version": api_version})
    try:
        response = pipeline.send_request(request, connection_timeout=timeout, read_timeout=timeout)
        response.read()
    except AzureError as err:
        raise UpstreamUnavailable(SERVICE, None, None, f"instance view of {vm.resource_id}: {err}") from err
    if response.status_code != 200:
        code = error_code(response)
        if resource_not_found(response.status_code, code):
            return None
        raise UpstreamUnavailable(
            SERVICE,
            response.status_code,
            code,
            f"instance view of {vm.resource_id}: {describe_error(response)}",
        )
    try:
        return parse_instance_view(vm.resource_id, json.loads(response.text()))
    except ValueError as err:
        raise UpstreamUnavailable(
            SERVICE, response.status_code, None, f"instance view of {vm.resource_id}: {err}"
        ) from err


def parse_instance_view(resource_id: str, body: Any) -> ListedVm:
    """The provisioning and power state of an instance view body (``power_state`` ``None`` if absent).

    Raises ``ValueError`` when ``body`` is not an instance view.
    """
    if not isinstance(body, Mapping):
        raise ValueError("an instance view is a JSON object")
    statuses = body.get("statuses")
    if not isinstance(statuses, list):
        raise ValueError("an instance view has a 'statuses' array")
    return listed_from_statuses(resource_id, statuses)
