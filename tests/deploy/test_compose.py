"""The compose file's services: images, health checks, start order, environment, commands.

Helpers: tests/deploy/compose_support.py.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import yaml

from tests.deploy.compose_support import (  # noqa: F401  (tests/deploy/test_observability_config.py imports some from here)
    APP_SERVICES,
    DOCKERFILE,
    LONG_RUNNING,
    ONE_SHOT,
    ROOT,
    as_argv,
    bind_mounts,
    depends_on,
    dockerfile_instructions,
    env_of,
    host_path,
    image_tag,
    load_compose,
)

# --------------------------------------------------------------------------- services

def test_all_services_are_defined(services):
    missing = (ONE_SHOT | LONG_RUNNING) - set(services)
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


def test_pulled_images_are_pinned_to_a_version(services):
    for name, svc in services.items():
        if "build" in svc:
            continue
        assert "image" in svc, f"{name} has neither image nor build"
        repo, tag = image_tag(svc["image"])
        assert tag, f"{name}: image {svc['image']!r} has no tag"
        assert tag != "latest", f"{name}: image {svc['image']!r} is not pinned"
        assert re.match(r"^v?\d+(\.\d+)*", tag), f"{name}: tag {tag!r} is not a version"


def test_expected_images(services):
    assert image_tag(services["postgresql"]["image"])[0] == "postgres"
    assert image_tag(services["postgresql"]["image"])[1].split(".")[0] == "16"
    assert image_tag(services["temporal"]["image"])[0] == "temporalio/server"
    assert image_tag(services["temporal-ui"]["image"])[0] == "temporalio/ui"
    for job in ("temporal-schema", "temporal-create-namespace"):
        assert image_tag(services[job]["image"])[0] == "temporalio/admin-tools", job


def test_admin_tools_match_the_server_version(services):
    # The schema directories in admin-tools are those of its own server version.
    server_tag = image_tag(services["temporal"]["image"])[1]
    for job in ("temporal-schema", "temporal-create-namespace"):
        assert image_tag(services[job]["image"])[1] == server_tag, job


def test_no_auto_setup_image_anywhere(compose, dockerfile):
    def strings(node):
        if isinstance(node, dict):
            for k, v in node.items():
                yield str(k)
                yield from strings(v)
        elif isinstance(node, list):
            for v in node:
                yield from strings(v)
        elif node is not None:
            yield str(node)

    offenders = [s for s in strings(compose) if "auto-setup" in s or "AUTO_SETUP" in s]
    assert not offenders, f"deprecated auto-setup referenced: {offenders}"
    for ins, args in dockerfile:
        assert "auto-setup" not in args, (ins, args)
    for script in (ROOT / "deploy").rglob("*.sh"):
        assert "auto-setup" not in script.read_text(encoding="utf-8"), script


def test_app_services_are_built_from_the_project_dockerfile(services):
    for name in APP_SERVICES:
        build = services[name].get("build")
        assert build, f"{name} is not built from the repository"
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (ROOT / context).resolve() == ROOT, f"{name}: build context {context!r}"
        assert (ROOT / context / dockerfile).resolve() == DOCKERFILE
    images = {services[name].get("image") for name in APP_SERVICES}
    assert len(images) == 1, f"app services should share one image tag, got {images}"


# --------------------------------------------------------------------------- health & order

def test_every_long_running_service_has_a_healthcheck(services):
    for name in LONG_RUNNING:
        hc = services[name].get("healthcheck")
        assert hc, f"{name} has no healthcheck"
        assert not hc.get("disable"), f"{name} healthcheck disabled"
        test = as_argv(hc.get("test") or [])
        assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name}: {test}"


def test_one_shot_jobs_are_not_restarted_forever(services):
    for name in ONE_SHOT:
        restart = str(services[name].get("restart", "no"))
        assert restart in ("no", "on-failure") or restart.startswith("on-failure:"), (
            f"{name} is a one-shot job but restart={restart!r}"
        )
        assert "healthcheck" not in services[name] or services[name]["healthcheck"].get("disable")


def test_long_running_services_restart(services):
    for name in LONG_RUNNING:
        assert services[name].get("restart") in ("always", "unless-stopped"), name


def test_postgresql_health_and_volume(compose, services):
    pg = services["postgresql"]
    assert "pg_isready" in " ".join(as_argv(pg["healthcheck"]["test"]))
    data = [v for v in pg.get("volumes", []) if str(v).endswith(":/var/lib/postgresql/data")]
    assert data, "PostgreSQL data is not on a volume"
    volume = str(data[0]).split(":", 1)[0]
    assert volume in (compose.get("volumes") or {}), f"named volume {volume!r} not declared"


def test_temporal_healthcheck_probes_the_frontend_port(services):
    test = " ".join(as_argv(services["temporal"]["healthcheck"]["test"]))
    assert "7233" in test or "cluster health" in test, test


def test_gateway_healthcheck_hits_healthz(services):
    test = " ".join(as_argv(services["gateway"]["healthcheck"]["test"]))
    assert "/healthz" in test and ":8000" in test, test


def test_depends_on_conditions_follow_the_start_order(services):
    expected = {
        "temporal-schema": {"postgresql": "service_healthy"},
        "temporal": {"temporal-schema": "service_completed_successfully"},
        "temporal-create-namespace": {"temporal": "service_healthy"},
        "temporal-ui": {"temporal": "service_healthy"},
        "app-migrate": {
            "postgresql": "service_healthy",
            "temporal-schema": "service_completed_successfully",
        },
        "worker": {
            "temporal": "service_healthy",
            "temporal-create-namespace": "service_completed_successfully",
            "app-migrate": "service_completed_successfully",
        },
        "gateway": {
            "temporal": "service_healthy",
            "temporal-create-namespace": "service_completed_successfully",
            "app-migrate": "service_completed_successfully",
        },
    }
    for name, wants in expected.items():
        deps = depends_on(services[name])
        for dep, condition in wants.items():
            assert deps.get(dep) == condition, (
                f"{name} must wait for {dep} with {condition}, has {deps.get(dep)!r}"
            )


def test_every_dependency_waits_for_the_right_state(services):
    # On a job: its successful end. On a long-running service: its healthcheck. Never a
    # bare "started", which is how a worker races a server that is not serving yet.
    for name, svc in services.items():
        for dep, condition in depends_on(svc).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if dep in ONE_SHOT:
                assert condition == "service_completed_successfully", (name, dep, condition)
            else:
                assert condition == "service_healthy", (name, dep, condition)
                assert services[dep].get("healthcheck"), f"{dep} has no healthcheck to wait on"


def test_start_order_has_no_cycle(services):
    seen: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"depends_on cycle: {' -> '.join(path + (name,))}"
        if seen.get(name):
            return
        for dep in depends_on(services[name]):
            visit(dep, path + (name,))
        seen[name] = 1

    for name in services:
        visit(name, ())


# --------------------------------------------------------------------------- environment

def test_app_services_environment(services):
    for name in APP_SERVICES:
        env = env_of(services[name])
        assert env.get("TEMPORAL_ADDRESS") == "temporal:7233", name
        assert env.get("TEMPORAL_NAMESPACE") == "default", name
        assert env.get("HOTLINE_TASK_QUEUE") == "hotline", name
        assert env.get("HOTLINE_POLICY") == "sanya", name
        assert "DATABASE_URL" in env, name


def test_temporal_address_names_the_temporal_server(services):
    for name in (*APP_SERVICES, "temporal-ui", "temporal-create-namespace"):
        host, _, port = env_of(services[name])["TEMPORAL_ADDRESS"].rpartition(":")
        assert host in services, f"{name}: TEMPORAL_ADDRESS host {host!r} is not a service"
        assert image_tag(services[host]["image"])[0] == "temporalio/server", name
        assert port == "7233", name


def test_database_url_points_at_the_postgresql_service(services):
    pg_env = env_of(services["postgresql"])
    for name in APP_SERVICES:
        url = urlsplit(env_of(services[name])["DATABASE_URL"])
        assert url.scheme == "postgresql+psycopg2", f"{name}: {url.scheme}"
        assert url.hostname == "postgresql" and url.hostname in services, name
        assert (url.port or 5432) == 5432, name
        assert url.path == "/hotline", f"{name}: database {url.path!r}, expected /hotline"
        assert url.username == pg_env["POSTGRES_USER"], name
        assert url.password == pg_env["POSTGRES_PASSWORD"], name


def test_credentials_can_be_overridden_from_the_environment():
    custom = load_compose({"POSTGRES_USER": "ops", "POSTGRES_PASSWORD": "s3cret"})["services"]
    assert env_of(custom["postgresql"])["POSTGRES_PASSWORD"] == "s3cret"
    assert env_of(custom["temporal"])["POSTGRES_PWD"] == "s3cret"
    assert env_of(custom["temporal-schema"])["SQL_PASSWORD"] == "s3cret"
    for name in APP_SERVICES:
        url = urlsplit(env_of(custom[name])["DATABASE_URL"])
        assert (url.username, url.password) == ("ops", "s3cret"), name


def test_temporal_server_uses_postgresql(services):
    env = env_of(services["temporal"])
    pg_env = env_of(services["postgresql"])
    assert env.get("DB") == "postgres12"
    assert env.get("DB_PORT") == "5432"
    assert env.get("POSTGRES_SEEDS") == "postgresql" and "postgresql" in services
    assert env.get("POSTGRES_USER") == pg_env["POSTGRES_USER"]
    assert env.get("POSTGRES_PWD") == pg_env["POSTGRES_PASSWORD"]
    assert env.get("BIND_ON_IP") == "0.0.0.0", "frontend must listen beyond loopback"


def test_temporal_dynamic_config_file_is_mounted_and_valid(services):
    svc = services["temporal"]
    path = env_of(svc).get("DYNAMIC_CONFIG_FILE_PATH")
    assert path, "DYNAMIC_CONFIG_FILE_PATH not set (the 1.30+ server image ships none)"
    container_path = path if path.startswith("/") else "/etc/temporal/" + path
    config = yaml.safe_load(host_path(svc, container_path).read_text(encoding="utf-8"))
    assert isinstance(config, dict) and config
    for key, values in config.items():
        assert isinstance(values, list) and values, key
        for entry in values:
            assert "value" in entry, f"{key}: entry without value"
    forced = config.get("system.forceSearchAttributesCacheRefreshOnRead", [{"value": False}])
    assert not any(e["value"] for e in forced), "development-only setting in production config"


def test_bind_mounted_paths_exist(services):
    from hotline.runtime.devcerts import CLIENTS
    generated = {f"{n}.{ext}" for n in ("ca", "server", *CLIENTS) for ext in ("pem", "key")}
    for name, svc in services.items():
        for host, _ in bind_mounts(svc):
            if host.parent == ROOT / "var" / "certs":  # made by scripts/dev-certs.sh, never committed
                assert host.name in generated and host.name != "ca.key", f"{name} mounts {host.name}"
                continue
            assert host.exists(), f"{name} mounts {host}, which is not in the repository"
            assert ROOT in host.parents or host == ROOT, f"{name} mounts outside the repo"


def test_ui_reaches_temporal_and_is_published(services):
    ui = services["temporal-ui"]
    ports = [str(p) for p in ui.get("ports", [])]
    assert any(re.fullmatch(r"(\S+:)?8233:8080", p) for p in ports), ports
    assert env_of(ui).get("TEMPORAL_ADDRESS") == "temporal:7233"


# --------------------------------------------------------------------------- app services

def test_worker_runs_two_replicas(services):
    worker = services["worker"]
    assert (worker.get("deploy") or {}).get("replicas") == 2
    assert "container_name" not in worker, "a fixed container_name forbids replicas"
    assert not worker.get("ports"), "replicas cannot share a published port"


def test_worker_command(services):
    argv = as_argv(services["worker"]["command"])
    assert argv[0].startswith("python") and argv[1:] in (["worker.py"], ["-m", "worker"]), argv


def test_worker_gets_time_to_drain(services):
    grace = str(services["worker"].get("stop_grace_period", "10s"))
    m = re.fullmatch(r"(\d+)(s|m)", grace)
    assert m, grace
    seconds = int(m.group(1)) * (60 if m.group(2) == "m" else 1)
    assert seconds >= 30, f"stop_grace_period {grace} leaves in-flight activities no time"


def test_gateway_command_and_port(services):
    gw = services["gateway"]
    argv = as_argv(gw["command"])
    assert argv[:2] == ["uvicorn", "gateway:app"], argv
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--port") + 1] == "8000"
    assert any(str(p).endswith(":8000") for p in gw.get("ports", [])), gw.get("ports")


def test_app_migrate_runs_the_migration_entry_point(services):
    assert as_argv(services["app-migrate"]["command"]) == ["python", "-m", "hotline.store.migrate"]
