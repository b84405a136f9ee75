"""The tracking mechanisms as ordered policies, registered once.

:data:`POLICIES` is the registry: name -> policy class (which names its config dataclass). It
is the only list of mechanisms: the ``tracker.mechanisms`` config section, the run-time settings,
``StepInfo.policies`` and the step's default order are all derived from it. Adding a mechanism:
a module with a :class:`~siam_tracker_ros.core.policies.base.Policy` subclass and its config
dataclass, and one entry below (its position is the default order). See
:mod:`siam_tracker_ros.core.policies.base` for what a policy sees of a step.

With every mechanism disabled the tracker is exactly pysot's ``SiamRPNTracker``.
"""

from __future__ import annotations

from siam_tracker_ros.core.policies.adaptive_search import (
    AdaptiveSearchConfig,
    AdaptiveSearchPolicy,
)
from siam_tracker_ros.core.policies.base import Policy, Search, Step, Target
from siam_tracker_ros.core.policies.distractors import DistractorConfig, DistractorPolicy
from siam_tracker_ros.core.policies.longterm import LongTermConfig, LongTermPolicy
from siam_tracker_ros.core.policies.lost_state import (
    LostStateConfig,
    LostStatePolicy,
    peak_to_sidelobe,
    valid_instance_size,
)
from siam_tracker_ros.core.policies.one_more_search import (
    OneMoreSearchConfig,
    OneMoreSearchPolicy,
)
from siam_tracker_ros.core.policies.online_update import OnlineUpdateConfig, OnlineUpdatePolicy
from siam_tracker_ros.core.policies.search_economy import (
    SearchEconomyConfig,
    SearchEconomyPolicy,
)

__all__ = [
    "POLICIES",
    "AdaptiveSearchConfig",
    "AdaptiveSearchPolicy",
    "DistractorConfig",
    "DistractorPolicy",
    "LongTermConfig",
    "LongTermPolicy",
    "LostStateConfig",
    "LostStatePolicy",
    "OneMoreSearchConfig",
    "OneMoreSearchPolicy",
    "OnlineUpdateConfig",
    "OnlineUpdatePolicy",
    "Policy",
    "Search",
    "SearchEconomyConfig",
    "SearchEconomyPolicy",
    "Step",
    "Target",
    "peak_to_sidelobe",
    "valid_instance_size",
]

#: every mechanism, in the default order of a step (within each phase)
POLICIES: dict[str, type[Policy]] = {  # type: ignore[type-arg]
    p.name: p
    for p in (
        AdaptiveSearchPolicy,
        LostStatePolicy,
        LongTermPolicy,  # after lost_state: its verification overrules the state (assess)
        OneMoreSearchPolicy,
        DistractorPolicy,
        OnlineUpdatePolicy,
        SearchEconomyPolicy,
    )
}
