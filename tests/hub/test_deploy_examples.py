"""The deployment examples in deploy/ fit together and fit the addon: the image runs `hub-addon`, the
Addon serves the Task kind, and the environment it sets is the one the addon reads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ADDON_SOURCE = Path(__file__).resolve().parents[2] / "src" / "kantra_ai" / "hub" / "addon.py"


def test_the_image_entrypoint_is_the_hub_addon_command() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["kantra-ai", "hub-addon"\]$', text, re.M)
    assert "[postgres]" in text  # the PostgreSQL store's driver is in the image


def test_the_addon_serves_the_task_kind_and_sets_what_the_addon_reads() -> None:
    addon, secret = yaml.safe_load_all((DEPLOY / "addon.yaml").read_text())
    task = next(yaml.safe_load_all((DEPLOY / "task.yaml").read_text()))
    assert addon["kind"] == "Addon" and task["kind"] == "Task" and secret["kind"] == "Secret"
    assert addon["spec"]["task"] == task["metadata"]["name"]
    env = {e["name"] for e in addon["spec"]["container"]["env"]}
    read = set(re.findall(r'env\.get\("(KANTRA_AI_\w+)"', ADDON_SOURCE.read_text()))
    assert read and read <= env
    assert "analyzer" in task["spec"]["dependencies"]
    assert set(task["spec"]["data"]["config"]) <= {"provider", "limits", "filters", "batching", "confidence"}
