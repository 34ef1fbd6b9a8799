"""The Kubernetes deployment files agree with the code they deploy (no cluster here to run them)."""

import importlib
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _values() -> dict:
    return yaml.safe_load((ROOT / "deploy" / "k8s" / "values.yaml").read_text(encoding="utf-8"))


def test_the_user_deployment_serves_the_projects_definitions():
    (deployment,) = _values()["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    module, attr = args[args.index("-m") + 1], args[args.index("-a") + 1]
    assert attr in vars(importlib.import_module(module))
    assert f'"-m", "{module}", "-a", "{attr}"' in (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")


def test_the_image_installs_the_locked_k8s_extra():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]["k8s"]
    lock = (ROOT / "uv.lock").read_text(encoding="utf-8")
    for requirement in extra:
        name, version = requirement.split("==")
        assert f'name = "{name}"\nversion = "{version}"' in lock
    assert re.search(r"uv sync --frozen --no-dev --extra k8s", (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8"))


def test_run_pods_get_the_same_folders_as_the_user_deployment():
    values = _values()
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert launcher["volumeMounts"] == deployment["volumeMounts"]
    env = {e["name"]: e["value"] for e in deployment["env"]}
    for assignment in launcher["envVars"]:
        name, value = assignment.split("=", 1)
        assert env[name] == value
