"""The shipped deployment files hold together: the Dockerfile copies only what exists and the
build context carries, runs as a non-root user under tini with a /health check; compose.yaml
puts nginx (deploy/nginx.conf) in the gateway's network namespace; deploy/compose.cluster.yaml
runs three nodes behind nginx-cluster.conf's upstream in one namespace; make clean keeps ./data."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def instructions(path: Path) -> list[tuple[str, str, str]]:
    """(stage, INSTRUCTION, arguments) with continuation lines joined."""
    text = path.read_text().replace("\\\n", " ")
    out, stage = [], ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            stage = rest.split(" AS ")[-1] if " AS " in rest else "final"
        out.append((stage, word.upper(), rest.strip()))
    return out


def in_context(rel: str) -> bool:
    """Whether .dockerignore lets `rel` into the build context (last matching rule wins)."""
    keep = True
    for rule in (ROOT / ".dockerignore").read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        negate, pattern = rule.startswith("!"), rule.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(rel, pattern) or rel.startswith(pattern + "/"):
            keep = negate
    return keep


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "deploy/nginx.Dockerfile",
                                        "deploy/postgres.Dockerfile", "deploy/s3.Dockerfile"])
def test_every_copy_source_exists_and_is_in_the_build_context(dockerfile):
    copies = [rest for _, word, rest in instructions(ROOT / dockerfile)
              if word == "COPY" and "--from=" not in rest]
    assert copies
    for rest in copies:
        for src in rest.split()[:-1]:
            assert (ROOT / src).exists(), f"{dockerfile}: COPY {src} does not exist"
            assert in_context(src.rstrip("/")), f"{dockerfile}: {src} is excluded by .dockerignore"
    for secret in ("data", ".venv", "node_modules", ".git"):
        assert not in_context(secret), f"{secret} would be sent to the image build"


def test_the_image_runs_gunicorn_as_a_user_under_tini_with_a_health_check():
    steps = instructions(ROOT / "Dockerfile")
    final = [(word, rest) for stage, word, rest in steps if stage == "final"]
    assert [rest for stage, word, rest in steps if word == "FROM"][0] == "${BASE} AS assets"
    assert "ARG BASE=docker.io/library/debian:12-slim" in (ROOT / "Dockerfile").read_text()
    users = [rest for word, rest in final if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("ENTRYPOINT", '["/usr/bin/tini", "--"]') in final
    assert ("VOLUME", "/data") in final
    assert any(word == "HEALTHCHECK" and "/health" in rest for word, rest in final)
    runs = " ".join(rest for word, rest in final if word == "RUN")
    assert "chromium chromium-driver" in runs and "tini" in runs and "nodejs" not in runs
    env = " ".join(rest for word, rest in final if word == "ENV")
    assert "WAENGINE_DATA_DIR=/data" in env and "WAENGINE_ENV=production" in env
    cmd = [rest for word, rest in final if word == "CMD"][-1]
    assert "/opt/waengine/share/waengine/gunicorn.conf.py" in cmd


def test_compose_puts_nginx_in_front_with_the_shipped_config():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    gateway, nginx = compose["services"]["waengine"], compose["services"]["nginx"]
    assert gateway["environment"]["WAENGINE_BIND"] == "127.0.0.1:8080"
    assert "${WAENGINE_API_KEYS:?" in gateway["environment"]["WAENGINE_API_KEYS"]
    assert any(v.endswith(":/data") for v in gateway["volumes"])
    assert gateway["ports"] == ["127.0.0.1:${PORT:-8080}:80"]  # loopback only, unless opened up
    assert nginx["network_mode"] == "service:waengine"
    assert nginx["depends_on"]["waengine"]["condition"] == "service_healthy"
    assert nginx["build"]["dockerfile"] == "deploy/nginx.Dockerfile"
    nginx_steps = instructions(ROOT / "deploy/nginx.Dockerfile")
    assert ("final", "COPY", "deploy/nginx.conf /etc/nginx/nginx.conf") in nginx_steps
    assert "server 127.0.0.1:8080;" in (ROOT / "deploy/nginx.conf").read_text()


@pytest.fixture
def project(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for folder in ("data/profiles", ".make", "node_modules/x", ".venv/bin"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "data" / "waengine.db").write_text("logins")
    return tmp_path


def make(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args], cwd=folder, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, start_new_session=True, timeout=60)


def test_clean_keeps_data_and_distclean_needs_a_yes_or_force(project):
    assert make(project, "clean").returncode == 0
    assert (project / "data" / "waengine.db").read_text() == "logins"
    assert not (project / ".make").exists() and not (project / "node_modules").exists()
    refused = make(project, "distclean")  # no terminal to answer: nothing is deleted
    assert refused.returncode != 0 and "kept ./data" in refused.stdout
    assert (project / "data" / "waengine.db").exists()
    assert make(project, "distclean", "FORCE=1").returncode == 0
    assert not (project / "data").exists()


def test_the_cluster_compose_runs_three_nodes_behind_nginx_cluster_conf():
    compose = yaml.safe_load((ROOT / "deploy/compose.cluster.yaml").read_text())
    services = compose["services"]
    nodes = {name: s for name, s in services.items() if s.get("image") == "localhost/waengine:latest"
             and "command" not in s}  # the sandbox runs the same image with its own command
    assert sorted(nodes) == ["node1", "node2", "node3"]
    env = {name: s["environment"] for name, s in nodes.items()}
    assert len({e["WAENGINE_NODE_ID"] for e in env.values()}) == 3
    binds = {e["WAENGINE_BIND"] for e in env.values()}
    upstream = re.findall(r"^\s*server (127\.0\.0\.1:\d+)",
                          (ROOT / "deploy/nginx-cluster.conf").read_text(), re.M)
    assert binds == set(upstream) and len(upstream) == 3
    for e in env.values():
        assert e["WAENGINE_NODE_URL"] == "http://" + e["WAENGINE_BIND"]
        assert e["WAENGINE_DATABASE_URL"].startswith("postgresql://")
        assert e["WAENGINE_SNAPSHOT_STORE"].startswith("s3://")
    for name in ("WAENGINE_CLUSTER_SECRET", "WAENGINE_SNAPSHOT_KEY", "WAENGINE_API_KEYS",
                 "WAENGINE_DATABASE_URL", "WAENGINE_SNAPSHOT_STORE", "WAENGINE_WA_URL"):
        assert len({e[name] for e in env.values()}) == 1, f"{name} differs between nodes"
    assert "${WAENGINE_CLUSTER_SECRET:?" in env["node1"]["WAENGINE_CLUSTER_SECRET"]
    data = [[v for v in s["volumes"] if v.endswith(":/data")] for s in nodes.values()]
    assert all(len(d) == 1 for d in data) and len({d[0] for d in data}) == 3  # profiles are local
    assert {d[0].split(":")[0] for d in data} <= set(compose["volumes"])

    # one network namespace, owned by a service that is not a node (killing one keeps it)
    owners = {s.get("network_mode") for name, s in services.items() if "ports" not in s}
    assert len(owners) == 1
    owner = owners.pop().removeprefix("service:")
    assert owner in services and owner not in nodes
    assert [name for name, s in services.items() if "ports" in s] == [owner]
    for port in services[owner]["ports"]:
        assert port.startswith("127.0.0.1:"), port  # on this machine only
    assert "127.0.0.1:${PORT:-8080}:80" in services[owner]["ports"]
    assert "listen 80;" in (ROOT / "deploy/nginx-cluster.conf").read_text()
    assert "./nginx-cluster.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]
    assert services["postgres"]["build"]["dockerfile"] == "deploy/postgres.Dockerfile"
    assert services["s3"]["build"]["dockerfile"] == "deploy/s3.Dockerfile"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
