"""Test helper: add an account overlay to a config tree (a temp copy), as an operator would.

Backups of one appliance may not overlap, so adding a third account re-spreads every account's
BACKUP_SCHEDULE over three-hour slots (README: "Adding a third account").
"""

from __future__ import annotations

from pathlib import Path

import yaml


def _set_schedule(overlay: dict, schedule: str) -> None:
    components = overlay.setdefault("senza", {}).setdefault("SenzaComponents", [])
    server = next((c["AppServer"] for c in components if "AppServer" in c), None)
    if server is None:
        server = {}
        components.append({"AppServer": server})
    server.setdefault("TaupageConfig", {}).setdefault("environment", {})["BACKUP_SCHEDULE"] = schedule


def add_account(
    root: Path, name: str, *, approval: bool, deployer: str = "senza", account_id: str = "345678901234"
) -> Path:
    """Write ``config/accounts/<name>.yaml`` under ``root`` and re-spread all accounts' schedules."""
    folder = root / "config" / "accounts"
    pipeline = {
        "account_id": account_id,
        "region": "eu-west-1",
        "deployer": deployer,
        "registry": f"{account_id}.dkr.ecr.eu-west-1.amazonaws.com",
        "approval": approval,
    }
    if deployer == "lizzy":
        pipeline["lizzy_url"] = f"https://lizzy.{name}.example.org"
        pipeline["lizzy_token_env"] = f"LIZZY_TOKEN_{name.upper()}"
    else:
        pipeline["deploy_role"] = "ghe-backup-deployer"
    path = folder / f"{name}.yaml"
    key = "aws:kms:" + "QUlDQUhoZHJQTEFDRUhPTERFUmNpcGhlcnRleHQ="  # shaped like KMS ciphertext (not real)
    senza = {"SenzaComponents": [{"AppServer": {"TaupageConfig": {"kms_private_ssh_key": key}}}]}
    path.write_text(yaml.safe_dump({"pipeline": pipeline, "senza": senza}, sort_keys=False))
    overlays = sorted(folder.glob("*.yaml"))
    for slot, overlay_path in enumerate(overlays):
        overlay = yaml.safe_load(overlay_path.read_text()) or {}
        _set_schedule(overlay, f"0 {slot}-23/{len(overlays)} * * *")
        overlay_path.write_text(yaml.safe_dump(overlay, sort_keys=False))
    return path
