#!/usr/bin/env python3
"""Checks compose.yaml's shape, since no compose tool can run it here (CI has no Docker daemon,
and Postgres's image cannot be pulled): Postgres with a named volume and a pg_isready health
check, clerk-sync built from the Dockerfile, waiting for it to be healthy, with the signing
secret required from the environment or .env. Usage: check-compose.py compose.yaml"""
import sys

import yaml

path = sys.argv[1]
with open(path) as f:
    compose = yaml.safe_load(f)
problems = []


def need(condition, what):
    if not condition:
        problems.append(what)


services = compose.get("services", {})
pg = services.get("postgres", {})
app = services.get("clerk-sync", {})
need(str(pg.get("image", "")).split(":")[0].endswith("postgres"), "postgres: the official image")
need("POSTGRES_PASSWORD" in pg.get("environment", {}), "postgres: POSTGRES_PASSWORD")
need(pg.get("environment", {}).get("POSTGRES_DB") == "clerk_sync", "postgres: POSTGRES_DB clerk_sync")
volumes = [v.split(":")[0] for v in pg.get("volumes", [])]
need(any(v in compose.get("volumes", {}) for v in volumes), "postgres: a named volume")
need("pg_isready" in pg.get("healthcheck", {}).get("test", []), "postgres: a pg_isready health check")

need(app.get("build") == ".", "clerk-sync: build: .")
depends = app.get("depends_on", {}).get("postgres", {})
need(depends.get("condition") == "service_healthy", "clerk-sync: waits for postgres to be healthy")
env = app.get("environment", {})
need("@postgres:5432/clerk_sync" in env.get("DATABASE_URL", ""), "clerk-sync: DATABASE_URL to postgres")
need(
    str(env.get("CLERK_WEBHOOK_SIGNING_SECRET", "")).startswith("${CLERK_WEBHOOK_SIGNING_SECRET:?"),
    "clerk-sync: the signing secret required from the environment",
)
need("8000:8000" in app.get("ports", []), "clerk-sync: port 8000 published")
need(app.get("restart") == "unless-stopped", "clerk-sync: restart unless-stopped")

if problems:
    sys.exit(f"{path}: " + "; ".join(problems))
print(f"    {path}: {', '.join(services)}: parsed, and has the expected shape")
