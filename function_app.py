"""Azure Functions entry point: wiring only.

Each trigger turns its binding into a plain call into ``shared.context``, the composition root that
builds the settings, the ledger and the clients once and hands each step what it needs, and maps the
result to a response. ``shared`` is imported inside the triggers, not here: the worker imports this file
on every cold start, and the storage and identity SDKs are only needed once a trigger runs.
"""

import logging

import azure.functions as func

# The SDKs log every request at INFO; keep their lines for warnings so logs stay about VMs.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
logging.getLogger("azure.identity").setLevel(logging.WARNING)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.function_name("on_vm_event")
@app.event_grid_trigger(arg_name="event")
def on_vm_event(event: func.EventGridEvent) -> None:
    """Record a VM, instance or health event, queue a scale-set-level one; storage, queue or ARM failures
    raise for a redelivery."""
    from shared import context
    from shared.sources import inbound_from_binding

    context.handle_event(inbound_from_binding(event))


# The same connection as the ledger: VM_LEDGER_STORAGE (Azurite) or VM_LEDGER_STORAGE__queueServiceUri with
# the identity. Retries, their delay and the poison queue are host.json's extensions.queues.
@app.function_name("record_scale_set_event")
@app.queue_trigger(arg_name="message", queue_name="%VM_LEDGER_QUEUE%", connection="VM_LEDGER_STORAGE")
def record_scale_set_event(message: func.QueueMessage) -> None:
    """List a scale set's instances after a scale-set-level event, record what changed; raises for a retry."""
    from shared import context

    context.handle_scale_set_message(message.get_body(), message.dequeue_count)


@app.function_name("get_vm")
@app.route(route="vms/{subscriptionId}/{resourceGroup}/{vmName}", methods=["GET"])
def get_vm(req: func.HttpRequest) -> func.HttpResponse:
    """Current state of one VM and its billed seconds in a window (``from``, ``to``)."""
    return _respond("get_vm", req)


@app.function_name("list_vm_transitions")
@app.route(route="vms/{subscriptionId}/{resourceGroup}/{vmName}/transitions", methods=["GET"])
def list_vm_transitions(req: func.HttpRequest) -> func.HttpResponse:
    """One VM's transitions in time order, paged (``from``, ``to``, ``top``, ``continuationToken``)."""
    return _respond("list_vm_transitions", req)


@app.function_name("get_vm_instance")
@app.route(
    route="vms/{subscriptionId}/{resourceGroup}/{scaleSetName}/instances/{instanceId}", methods=["GET"]
)  # noqa: E501
def get_vm_instance(req: func.HttpRequest) -> func.HttpResponse:
    """``get_vm`` for one Uniform scale set instance."""
    return _respond("get_vm_instance", req)


@app.function_name("list_vm_instance_transitions")
@app.route(
    route="vms/{subscriptionId}/{resourceGroup}/{scaleSetName}/instances/{instanceId}/transitions",
    methods=["GET"],
)
def list_vm_instance_transitions(req: func.HttpRequest) -> func.HttpResponse:
    """``list_vm_transitions`` for one Uniform scale set instance."""
    return _respond("list_vm_instance_transitions", req)


@app.function_name("list_vms")
@app.route(route="vms", methods=["GET"])
def list_vms(req: func.HttpRequest) -> func.HttpResponse:
    """Current state of every VM in the ledger, paged (``subscriptionId``, ``resourceGroup``, ``scaleSet``,
    ``top``)."""
    return _respond("list_vms", req)


@app.function_name("reconcile_vms")
@app.timer_trigger(schedule="%RECONCILE_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def reconcile_vms(timer: func.TimerRequest) -> None:
    """The timer's steps: converge the ledger on Virtual Machines - List All, backfill the VMs it adopted,
    rebuild month rows, refresh inventory and prices when due; raises if any subscription failed to
    reconcile."""
    from shared import context

    if timer.past_due:
        logging.getLogger(__name__).info("reconcile is running late (past due)")
    context.run_timer()


def _respond(function_name: str, req: func.HttpRequest) -> func.HttpResponse:
    from shared import context
    from shared.web import Request

    request = Request(url=req.url, params=dict(req.params), route=dict(req.route_params))
    result = context.answer(function_name, request)
    return func.HttpResponse(
        result.text(),
        status_code=result.status,
        mimetype=result.mimetype,
        charset="utf-8",
        headers=dict(result.headers),
    )


@app.function_name("list_vm_timelines")
@app.route(route="timelines", methods=["GET"])
def list_vm_timelines(req: func.HttpRequest) -> func.HttpResponse:
    """Every VM's power-state segments and billed seconds in a window, paged (``from``, ``to``, ``top``)."""
    return _respond("list_vm_timelines", req)


@app.function_name("list_findings")
@app.route(route="findings", methods=["GET"])
def list_findings(req: func.HttpRequest) -> func.HttpResponse:
    """VMs to act on: stopped but billed, deallocated for long, failed while billed, unconfirmed."""
    return _respond("list_findings", req)


@app.function_name("list_costs")
@app.route(route="costs", methods=["GET"])
def list_costs(req: func.HttpRequest) -> func.HttpResponse:
    """Billed hours and estimated cost per subscription, group or tag (``from``, ``to``, ``groupBy``)."""
    return _respond("list_costs", req)


@app.function_name("vm_timeline_page")
@app.route(route="timeline", methods=["GET"])
def vm_timeline_page(req: func.HttpRequest) -> func.HttpResponse:
    """The timeline page (HTML); it reads ``timelines`` with the same function key."""
    return _respond("vm_timeline_page", req)
