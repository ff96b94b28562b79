#!/usr/bin/env bash
# CI: the files in deploy/ are files people copy, so they must at least parse, pass the checks
# their tools offer offline, and agree with the service: port 8000, /healthz for readiness,
# /livez for liveness, and stop timeouts longer than Rocket's shutdown (the grace, raised to
# the request timeout + 1 s = 11 s, plus 3 s of mercy). No network but PyPI, no cluster, no
# platform accounts: what only the platforms can check is listed in deploy/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# Fresh CI machines: PyYAML for the manifests, kubernetes-validate for the Kubernetes JSON
# schemas (bundled in the package, so validation itself is offline).
python3 -c 'import yaml, kubernetes_validate' 2> /dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check pyyaml kubernetes-validate

# systemd: `verify` exits 1 when ExecStart's binary is missing, and the binary is not installed
# on a CI machine, so verify a copy whose ExecStart names one that exists; everything else is
# the unit as shipped. Any output is a warning, and a warning fails too.
unit=$(mktemp -d)
trap 'rm -rf "$unit"' EXIT
sed 's#^ExecStart=/usr/local/bin/clerk-sync #ExecStart=/bin/true #' \
  deploy/systemd/clerk-sync.service > "$unit/clerk-sync.service"
grep -qx 'ExecStart=/bin/true serve' "$unit/clerk-sync.service"
output=$(systemd-analyze verify "$unit/clerk-sync.service" 2>&1) || {
  echo "$output" >&2
  exit 1
}
if [ -n "$output" ]; then
  echo "systemd-analyze verify warned:" >&2
  echo "$output" >&2
  exit 1
fi
# The exposure score (0 safest, 10 unsafe): fail if the hardening regresses past 2.0.
systemd-analyze security --offline=yes --threshold=20 "$unit/clerk-sync.service" | tail -n 1

# Kubernetes: the real schemas, strictly (an unknown or misspelt field fails), for the oldest
# version the Deployment supports (the preStop `sleep` action needs 1.30), and kustomize's view.
kubernetes-validate --strict --quiet -k 1.30.0 deploy/kubernetes/{deployment,service,pdb,secret.example}.yaml
if command -v kubectl > /dev/null; then
  kubectl kustomize deploy/kubernetes > /dev/null
fi

python3 - << 'PY'
import json, pathlib, sys, tomllib, yaml

ROCKET_SHUTDOWN = 11 + 3  # grace (request timeout + 1 s) + Rocket's default mercy
failures = []

def check(ok, what):
    if not ok:
        failures.append(what)

# Every manifest parses.
docs = {}
for path in sorted(pathlib.Path("deploy").rglob("*")):
    if path.suffix in (".yaml", ".yml"):
        docs[str(path)] = list(yaml.safe_load_all(path.read_text()))
    elif path.suffix == ".toml":
        docs[str(path)] = tomllib.loads(path.read_text())
    elif path.suffix == ".json":
        docs[str(path)] = json.loads(path.read_text())
print(f"parsed {len(docs)} manifests: {', '.join(docs)}")

# Fly.io
fly = docs["deploy/fly.toml"]
check(fly["build"]["dockerfile"] == "Dockerfile", "fly: builds the top-level Dockerfile")
check(fly["http_service"]["internal_port"] == 8000, "fly: internal_port 8000")
check(fly["env"]["ROCKET_PORT"] == "8000", "fly: ROCKET_PORT 8000")
check(any(c["path"] == "/healthz" for c in fly["http_service"]["checks"]), "fly: /healthz check")
check(fly["kill_signal"] == "SIGTERM", "fly: kill_signal SIGTERM")
check(fly["kill_timeout"] > ROCKET_SHUTDOWN, "fly: kill_timeout covers Rocket's shutdown")
check(fly["http_service"]["min_machines_running"] >= 1, "fly: a machine always runs")

# Render
render = docs["deploy/render.yaml"][0]
web = render["services"][0]
env = {e["key"]: e for e in web["envVars"]}
check(web["runtime"] == "docker" and web["dockerfilePath"] == "./Dockerfile", "render: Dockerfile")
check(web["healthCheckPath"] == "/healthz", "render: healthCheckPath /healthz")
check(env["PORT"]["value"] == env["ROCKET_PORT"]["value"] == "8000", "render: port 8000")
check(env["CLERK_WEBHOOK_SIGNING_SECRET"].get("sync") is False, "render: secret not in git")
check(env["DATABASE_URL"]["fromDatabase"]["name"] in {d["name"] for d in render["databases"]},
      "render: DATABASE_URL from the Blueprint's database")
check(web["maxShutdownDelaySeconds"] > ROCKET_SHUTDOWN, "render: shutdown delay")

# Railway
railway = docs["deploy/railway.json"]
check(railway["build"] == {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"}, "railway: Dockerfile")
check(railway["deploy"]["healthcheckPath"] == "/healthz", "railway: healthcheckPath /healthz")
check(railway["deploy"]["drainingSeconds"] > ROCKET_SHUTDOWN, "railway: draining time")

# Kubernetes: what the schemas cannot know.
(deployment,) = docs["deploy/kubernetes/deployment.yaml"]
(secret,) = docs["deploy/kubernetes/secret.example.yaml"]
(service,) = docs["deploy/kubernetes/service.yaml"]
(pdb,) = docs["deploy/kubernetes/pdb.yaml"]
(kustomization,) = docs["deploy/kubernetes/kustomization.yaml"]
spec = deployment["spec"]["template"]["spec"]
(container,) = spec["containers"]
labels = deployment["spec"]["template"]["metadata"]["labels"]
ports = {p["name"]: p["containerPort"] for p in container["ports"]}
env = {e["name"]: e for e in container["env"]}
pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
check(deployment["spec"]["replicas"] >= 2, "k8s: two replicas or more")
check(ports == {"http": 8000} and env["ROCKET_PORT"]["value"] == "8000", "k8s: port 8000")
check(container["readinessProbe"]["httpGet"]["path"] == "/healthz", "k8s: readiness on /healthz")
check(container["livenessProbe"]["httpGet"]["path"] == "/livez", "k8s: liveness on /livez")
check(spec["terminationGracePeriodSeconds"] > pre_stop + ROCKET_SHUTDOWN,
      "k8s: terminationGracePeriodSeconds covers preStop + Rocket's shutdown")
for name, var in env.items():
    ref = var.get("valueFrom", {}).get("secretKeyRef")
    if ref:
        check(ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"],
              f"k8s: {name} refers to a key of the example Secret")
for name in ("DATABASE_URL", "CLERK_WEBHOOK_SIGNING_SECRET"):
    check("secretKeyRef" in env[name].get("valueFrom", {}), f"k8s: {name} from the Secret")
pod_security = spec["securityContext"]
security = container["securityContext"]
check(pod_security["runAsNonRoot"] and pod_security["seccompProfile"]["type"] == "RuntimeDefault",
      "k8s: non-root, seccomp RuntimeDefault")
check(security["readOnlyRootFilesystem"] and security["capabilities"]["drop"] == ["ALL"]
      and security["allowPrivilegeEscalation"] is False, "k8s: read-only, no capabilities")
check({"cpu", "memory"} <= container["resources"]["requests"].keys()
      and "memory" in container["resources"]["limits"], "k8s: resources")
check(service["spec"]["selector"] == labels and pdb["spec"]["selector"]["matchLabels"] == labels,
      "k8s: the Service and the PDB select the Deployment's pods")
check(service["spec"]["ports"][0]["targetPort"] in ports, "k8s: the Service targets the named port")
check(all(pathlib.Path("deploy/kubernetes", r).is_file() for r in kustomization["resources"]),
      "k8s: kustomization's resources exist")
check("secret.example.yaml" not in kustomization["resources"],
      "k8s: kustomization never applies the placeholder Secret")

# systemd: the parts verify does not judge.
unit = pathlib.Path("deploy/systemd/clerk-sync.service").read_text().splitlines()
check("ExecStart=/usr/local/bin/clerk-sync serve" in unit, "systemd: ExecStart")
stop = next(l for l in unit if l.startswith("TimeoutStopSec="))
check(int(stop.removeprefix("TimeoutStopSec=").removesuffix("s")) > ROCKET_SHUTDOWN,
      "systemd: TimeoutStopSec covers Rocket's shutdown")

# Every example names the two required variables.
for path in ("deploy/systemd/env.example", "deploy/kubernetes/secret.example.yaml",
             "deploy/render.yaml", "deploy/fly.toml"):
    text = pathlib.Path(path).read_text()
    for name in ("DATABASE_URL", "CLERK_WEBHOOK_SIGNING_SECRET"):
        check(name in text, f"{path}: names {name}")

if failures:
    sys.exit("deploy files disagree with the service:\n  " + "\n  ".join(failures))
print("deploy files agree with the service: port 8000, /healthz, /livez, stop timeouts")
PY
