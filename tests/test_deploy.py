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


# The chart passes runLauncher.config.k8sRunLauncher.runK8sConfig to the K8sRunLauncher as its
# run_k8s_config, each key in snake case (containerConfig: container_config, ...).
_RUN_K8S_KEYS = {"containerConfig": "container_config", "podSpecConfig": "pod_spec_config",
                 "podTemplateSpecMetadata": "pod_template_spec_metadata", "jobConfig": "job_config",
                 "jobMetadata": "job_metadata", "jobSpecConfig": "job_spec_config"}


def _run_pod_job():
    """The Kubernetes job of a run, built by dagster-k8s's own construction from these values
    (as K8sRunLauncher does: its container context, the code location's image)."""
    from dagster_k8s import DagsterK8sJobConfig, construct_dagster_k8s_job
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import UserDefinedDagsterK8sConfig

    values = _values()
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    run_k8s_config = {_RUN_K8S_KEYS[key]: value for key, value in launcher.get("runK8sConfig", {}).items()}
    context = K8sContainerContext(volumes=launcher["volumes"], volume_mounts=launcher["volumeMounts"],
                                  env_vars=launcher["envVars"],
                                  run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(run_k8s_config))
    image = f"{deployment['image']['repository']}:{deployment['image']['tag']}"
    config = DagsterK8sJobConfig(job_image=image, dagster_home="/opt/dagster/dagster_home",
                                 instance_config_map="dagster-instance",
                                 postgres_password_secret="dagster-postgresql-secret")
    return construct_dagster_k8s_job(config, args=["dagster", "api", "execute_run", "{}"], job_name="dagster-run-1",
                                     pod_name="dagster-run-1", component="run_worker",
                                     user_defined_k8s_config=context.run_k8s_config)


def test_run_pods_are_sized_for_a_patients_extraction():
    (container,) = _run_pod_job().spec.template.spec.containers
    assert container.resources.requests == {"cpu": "1", "memory": "3Gi"}
    assert container.resources.limits == {"cpu": "1", "memory": "4Gi"}


def test_run_pods_mount_the_shared_cohort_and_data_folders_and_run_the_projects_image():
    job = _run_pod_job()
    pod = job.spec.template.spec
    (container,) = pod.containers
    claims = {v.name: v.persistent_volume_claim.claim_name for v in pod.volumes if v.persistent_volume_claim}
    assert claims == {"cohort": "glioma-cohort", "data": "glioma-data"}
    mounts = {m.mount_path: (m.name, bool(m.read_only)) for m in container.volume_mounts}
    assert mounts["/cohort"] == ("cohort", True) and mounts["/data"] == ("data", False)
    assert container.image == "registry.example.org/glioma-rings:latest"
    env = {e.name: e.value for e in container.env}
    assert env["GLIOMA_RINGS_DATA"] == "/data" and env["GLIOMA_RINGS_COHORT"] == "/cohort"
    # The instance is the chart's PostgreSQL: its password reaches the pod from the secret.
    [password] = [e for e in container.env if e.name == "DAGSTER_PG_PASSWORD"]
    assert password.value_from.secret_key_ref.name == "dagster-postgresql-secret"


def test_the_instance_is_postgresql():
    postgresql = _values()["postgresql"]
    assert postgresql["enabled"] and postgresql["postgresqlDatabase"] == "dagster"
