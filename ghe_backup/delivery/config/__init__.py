"""The config stage: the senza base, shared defaults and one overlay per account, merged and checked.

Entry points: ``load_accounts(root)`` (read and validate everything, exit 2 on the first problem),
``select_accounts(names, accounts, root)``, ``AccountConfig`` / ``AccountSettings`` (the result),
``substitute`` (fill ``${...}`` placeholders), ``leaves`` (every value with its origin file).

Modules: ``yamlfile`` (safe YAML with line numbers), ``merge`` (pure merge rules and the strategy
table), ``schema`` (the one schema), ``accounts`` (building each account's config).
"""

from ghe_backup.delivery.config.accounts import (
    ACCOUNTS_DIR,
    AccountConfig,
    AccountSettings,
    load_accounts,
    select_accounts,
    substitute,
)
from ghe_backup.delivery.config.merge import Merged, leaves

__all__ = [
    "ACCOUNTS_DIR",
    "AccountConfig",
    "AccountSettings",
    "Merged",
    "leaves",
    "load_accounts",
    "select_accounts",
    "substitute",
]
