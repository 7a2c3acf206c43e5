"""The two deployers, Lizzy and senza, behind one interface (``base.Deployer``, ``base.DeployerError``).

Entry point: ``make_deployer(target, access)``.
"""

from __future__ import annotations

from typing import Any

from ghe_backup.delivery.deploy.deployers.base import Deployer, DeployerError

__all__ = ["Deployer", "DeployerError", "make_deployer"]


def make_deployer(target: Any, access: Any, **options: Any) -> Deployer:
    if target.settings.deployer == "lizzy":
        from ghe_backup.delivery.deploy.deployers.lizzy import LizzyDeployer

        return LizzyDeployer(target, access, **options)
    from ghe_backup.delivery.deploy.deployers.senza import SenzaDeployer

    return SenzaDeployer(target, access, **options)
