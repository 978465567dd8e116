"""The alert engine (issue 16, part 2): rules a city manages as data, evaluated on the hub's
change stream and on a timer, each episode published as one Smart Data Models ``Alert``.

The core is pure: ``rules`` (the rule model and its validation), ``defaults`` (DOMAIN.md §6.3),
``observe`` (what an entity change tells a rule), ``episode`` (the state machine: previous
state, observation -> new state, alert actions) and ``alert_entity`` (the ``Alert`` entity an
action creates or changes). The service that runs them on the store builds on these. This
package may import ``cityhub.ngsild``, ``cityhub.airquality`` (advice texts) and the store
protocols; never a backend, never ``cityhub.api``.
"""

from __future__ import annotations

from cityhub.alerts.alert_entity import ALERT_TYPE, changed_alert, new_alert
from cityhub.alerts.defaults import default_rules
from cityhub.alerts.episode import (
    Action,
    EpisodeState,
    Observation,
    Step,
    alert_id,
    check_offline,
    step,
)
from cityhub.alerts.observe import observe, report_time
from cityhub.alerts.rules import KINDS, Rule, parse_rule

__all__ = [
    "ALERT_TYPE",
    "KINDS",
    "Action",
    "EpisodeState",
    "Observation",
    "Rule",
    "Step",
    "alert_id",
    "changed_alert",
    "check_offline",
    "default_rules",
    "new_alert",
    "observe",
    "parse_rule",
    "report_time",
    "step",
]
