"""The per-stay zone rules, one module each, registered by name (see ``registry``).

Importing the package imports every module in it, in name order, so that each rule registers
itself: a new rule is found without being listed anywhere.
"""

import importlib
import pkgutil

from vigie_core.analytics.rules.registry import (
    Seen,
    StayRule,
    pixel_ratio,
    register,
    rule_of,
    stay_rule,
    stay_rules,
)

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Seen", "StayRule", "pixel_ratio", "register", "rule_of", "stay_rule", "stay_rules"]
