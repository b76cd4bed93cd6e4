"""The columns of the ledger's VM rows (transition rows and current rows): every name, spelt here only.

``_entities`` maps records to these columns and back, ``_inventory`` a VM's inventory; no other module
of the store spells one (a test checks it). Month rows (``_month_rows``) and the price book
(``price_book``) have layouts of their own.
"""

# A state is seven columns under a prefix: ``stateSince``, ``prevPowerState``...
STATE, PREV = "state", "prev"
EXISTS = "Exists"
PROVISIONING_STATE = "ProvisioningState"
POWER_STATE = "PowerState"
HIBERNATED = "Hibernated"
DELETED = "Deleted"
BILLABLE = "Billable"
SINCE = "Since"
STATE_SUFFIXES = (EXISTS, PROVISIONING_STATE, POWER_STATE, HIBERNATED, DELETED, BILLABLE, SINCE)
BILLING_POLICY = "billingPolicy"  # the label of the policy that flagged the (last) transition

# ---- transition rows: the change, the state before and after it, and its evidence ----
TIME = "time"
PREV_KEY = "prevKey"  # the row before (``""``: none); absent on rows written before it was kept
CHANGE_PROVISIONING_STATE = "changeProvisioningState"
CHANGE_POWER_STATE = "changePowerState"
CHANGE_HIBERNATED = "changeHibernated"
CHANGE_DELETES = "changeDeletes"
CHANGE_CREATES = "changeCreates"
# Evidence, in the same columns whatever the source; empty when the source has none.
SOURCE = "source"
EVENT_ID = "eventId"
OPERATION_NAME = "operationName"
EVENT_TYPE = "eventType"
CORRELATION_ID = "correlationId"
CAUSE = "cause"  # a health annotation's cause (``shared.domain.health.Cause``)
CHANGED_AFTER = "changedAfter"  # a listing's: the last recorded time before it

# ---- compact transition rows (written since issue 24): few properties, short names, short values ----
# (``_compact``). The time is the RowKey's; rows in the columns above still read back as they always have.
COMPACT_STATE = "S"  # the state after: ``_month_rows.state_code`` (provisioning, power, flags)
COMPACT_SINCE = "N"  # its ``since``, only when not the row's own time
COMPACT_PREV = "P"  # the state before, absent when none
COMPACT_PREV_SINCE = "Q"
COMPACT_CHANGE = "C"  # [provisioning, power, flags]: hibernated 1, deletes 2, creates 4
COMPACT_PREV_KEY = "K"  # the row before, without the VM's prefix; absent as ``prevKey`` was on older rows
COMPACT_POLICY = "B"  # the billing policy: the mask of its power states (or its label)
COMPACT_EVIDENCE = "E"  # [source letter, id, operation, event type, correlation id, cause, changedAfter]

# ---- current rows: the VM, its span, its condition, its profile and its upkeep marks ----
RESOURCE_ID = "resourceId"
SUBSCRIPTION_ID = "subscriptionId"
RESOURCE_GROUP = "resourceGroup"
VM_NAME = "vmName"
INSTANCE_OF = "instanceOf"  # a Uniform instance's scale set name
FIRST_KEY, FIRST_TIME = "firstKey", "firstTime"
LAST_KEY, LAST_TIME = "lastKey", "lastTime"
CAUSE_SOURCE, CAUSE_OPERATION = "causeSource", "causeOperation"
MEMBER_OF = "memberOf"  # a Flexible member's scale set, its resource id as listed
VM_SIZE = "vmSize"
LOCATION = "location"
OS_TYPE = "osType"
LICENSE_TYPE = "licenseType"
PRIORITY = "priority"
TAGS = "tags"  # one JSON object, bounded (``shared.domain.inventory.bound_tags``)
TAGS_DROPPED = "tagsDropped"
INVENTORY_AT = "inventoryAt"
LAST_CONFIRMED = "lastConfirmed"  # also a confirmation row's (rows written before those kept it here)
CONFIRMED_KEY = "confirmedKey"  # a confirmation row's: the last transition of the state it confirmed
ACTIVITY_LOG_UNTIL = "activityLogUntil"
PENDING_FROM, PENDING_PREV_KEY = "pendingFrom", "pendingPrevKey"
MONTH_OPEN, MONTH_COUNT, MONTH_BEFORE_FIRST = "monthOpen", "monthCount", "monthBeforeFirst"
DAY_OPEN, DAY_RUNNING = "dayOpen", "dayRunning"  # the open day's date and its totals so far (``_day_rows``)

# ---- actuals rows (``actuals``): one per resource and month, the bill's days in one JSON column ----
# ``resourceId`` (RESOURCE_ID) as the bill spells it: lower case.
ACTUAL_MONTH = "billMonth"  # ``YYYY-MM``: the filter of the fleet's reads
ACTUAL_CURRENCY = "billCurrency"
ACTUAL_DAYS = "billDays"  # {"DD": [actual, amortized or null, bill hours, ledger hours or null]}
ACTUAL_STORED_AT = "billStoredAt"
