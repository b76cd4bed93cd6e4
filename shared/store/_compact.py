"""Short spellings of the values a transition stores (private): what keeps a row small, reversibly.

Azure counts every stored character twice (UTF-16) and every property's name again in every entity, so a
transition row keeps few properties with short names (``_columns``) and its longer values in short form:

- a source as one letter (``e``, ``r``, ``h``, ``a``);
- an operation name or event type with its well-known prefix as a two-character code (``~v/start/action``
  for ``Microsoft.Compute/virtualMachines/start/action``); a value that itself begins with ``~`` is kept
  with one more ``~`` in front, so every value reads back exactly;
- a billing policy label as the bit mask of its power states (``shared.domain.vm_state.POWER_STATES``
  order), when the label is one the mask spells back;
- the previous row's key without the VM's transitions prefix, which it shares with the row's own.

Month-row entries (``_month_rows``) use the same source letters and prefix codes.
"""

from __future__ import annotations

from shared.domain.evidence import Source
from shared.domain.vm_state import POWER_STATES
from shared.store._keys import is_transition_suffix, split_transition_key

_ESCAPE = "~"
_PREFIXES = {
    "~v": "Microsoft.Compute/virtualMachines/",
    "~s": "Microsoft.Compute/virtualMachineScaleSets/",
    "~r": "Microsoft.Resources.Resource",
    "~h": "Microsoft.ResourceNotifications.HealthResources.",
}
_SOURCE_LETTERS = {Source.EVENT: "e", Source.RECONCILE: "r", Source.HEALTH: "h", Source.ACTIVITY_LOG: "a"}
_SOURCES = {letter: source for source, letter in _SOURCE_LETTERS.items()}


def short_name(value: str) -> str:
    """``value`` with its well-known prefix as a code (``long_name`` gives it back)."""
    for code, prefix in _PREFIXES.items():
        if value.startswith(prefix):
            return code + value[len(prefix) :]
    return _ESCAPE + value if value.startswith(_ESCAPE) else value


def long_name(text: str) -> str:
    if not text.startswith(_ESCAPE):
        return text
    if text.startswith(_ESCAPE * 2):
        return text[1:]
    return _PREFIXES[text[:2]] + text[2:]


def source_letter(source: Source) -> str:
    return _SOURCE_LETTERS[source]


def source_of(text: str) -> Source:
    """A source as stored: its letter, or (rows and entries written before) its name."""
    return _SOURCES.get(text) or Source(text)


def policy_mask(label: str) -> int | str:
    """The label as the mask of its states, or the label itself when no mask spells it back."""
    states = label.split(",")
    mask = sum(1 << POWER_STATES.index(state) for state in states if state in POWER_STATES)
    return mask if policy_label(mask) == label else label


def policy_label(stored: int | str) -> str:
    if isinstance(stored, str):
        return stored
    return ",".join(state for index, state in enumerate(POWER_STATES) if stored & (1 << index))


def short_key(prev_key: str, key: str) -> str:
    """The previous row's key without the transitions prefix it shares with ``key``, when it does."""
    mine, theirs = split_transition_key(key), split_transition_key(prev_key)
    return theirs[1] if mine and theirs and mine[0] == theirs[0] else prev_key


def full_key(stored: str, key: str) -> str:
    """A previous row's key as ``short_key`` stored it beside ``key`` (``""`` stays ``""``)."""
    mine = split_transition_key(key)
    return mine[0] + stored if mine and is_transition_suffix(stored) else stored
