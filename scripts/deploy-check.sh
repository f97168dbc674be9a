#!/usr/bin/env bash
# Static checks of the deployment files (seconds, no containers):
#   1. Kubernetes manifests (deploy/k8s/*.yaml) against the Kubernetes 1.30 OpenAPI schemas,
#      strict (unknown fields rejected), with PyPI `kubernetes-validate` (it bundles the schemas:
#      no cluster, no download at check time); every file is listed in kustomization.yaml; a
#      deliberately broken manifest must fail (the check can fail).
#   2. Topology (deploy/check-topology.py): what a schema cannot see: StatefulSets and their
#      headless Services, name-server addresses that are the stable pod names, broker groups
#      (one master, slaves with brokerId > 0 following the master's stable name and HA port),
#      and in compose.yaml the same groups plus distinct default ports; a slave pointed at a
#      wrong master must fail.
#   3. Prometheus: `promtool check config` of deploy/prometheus/prometheus.yml, `check rules`
#      and the alert unit tests (`promtool test rules`).
#   4. Grafana dashboard: valid JSON; every panel query is valid PromQL (promtool, with the
#      dashboard variables substituted); every rmq/RocketMQ metric it or the alert rules use is
#      one the binaries export (the list in docs/observability.md).
# Needs: python3 with venv, PyPI reachable for the first run (venv cached in deploy/.venv),
# promtool (Debian `prometheus`).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

venv=deploy/.venv
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  echo "== installing kubernetes-validate==1.37.0 into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check kubernetes-validate==1.37.0
fi
command -v promtool >/dev/null || { echo "deploy-check: promtool is required (Debian package prometheus)" >&2; exit 1; }

echo "== Kubernetes manifests (schema 1.30, strict)"
manifests=$(cd deploy/k8s && ls *.yaml | grep -v '^kustomization.yaml$')
# shellcheck disable=SC2086
(cd deploy/k8s && "$OLDPWD/$venv/bin/kubernetes-validate" -k 1.30.0 --strict --quiet $manifests)
for f in $manifests; do
  grep -q "^  - $f\$" deploy/k8s/kustomization.yaml || { echo "deploy/k8s/$f is not in kustomization.yaml" >&2; exit 1; }
done
sed 's/^  replicas: 1$/  replicas: 1\n  replica: 1/' deploy/k8s/broker.yaml >"$work/broken.yaml"
if "$venv/bin/kubernetes-validate" -k 1.30.0 --strict --quiet "$work/broken.yaml" >/dev/null 2>&1; then
  echo "deploy-check: the schema check accepted a manifest with an unknown field" >&2; exit 1
fi
echo "   $(echo "$manifests" | wc -l) files valid; an unknown field is rejected"

echo "== Topology: broker groups, stable names, ports (k8s and compose)"
python3 deploy/check-topology.py
cp -r deploy/k8s "$work/k8s"
sed -i 's|rmq-broker-a-master-0\.|rmq-broker-a-slave-0.|' "$work/k8s/broker.yaml"
if python3 deploy/check-topology.py "$work/k8s" >/dev/null 2>&1; then
  echo "deploy-check: the topology check accepted a slave following itself" >&2; exit 1
fi
echo "   a slave following the wrong broker is rejected"

echo "== Prometheus config, alert rules and their unit tests"
(cd deploy/prometheus && promtool check config --syntax-only prometheus.yml >/dev/null 2>&1 || promtool check config prometheus.yml)
(cd deploy/prometheus && promtool check rules rmq-alerts.yml && promtool test rules rmq-alerts.test.yml)

echo "== Grafana dashboard"
python3 - "$work" <<'PY'
import json, re, subprocess, sys
work = sys.argv[1]
d = json.load(open("deploy/grafana/rmq-dashboard.json"))
exprs = []
def walk(ps):
    for p in ps:
        exprs.extend(t["expr"] for t in p.get("targets", []))
        walk(p.get("panels", []))
walk(d["panels"])
def sub(e):
    e = e.replace("$__rate_interval", "5m")
    return re.sub(r"\$\{?(\w+)\}?", ".*", e)
with open(f"{work}/dash-rules.yml", "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        f.write(f"      - record: dashboard_query_{i}\n        expr: {json.dumps(sub(e))}\n")
subprocess.run(["promtool", "check", "rules", f"{work}/dash-rules.yml"], check=True, stdout=subprocess.DEVNULL)
# Metric names used by the dashboard and the alerts vs the documented (exported) list.
doc = open("docs/observability.md").read()
exported = set(re.findall(r"`((?:rocketmq|rmq)_[a-z0-9_]+)`", doc))
alerts = open("deploy/prometheus/rmq-alerts.yml").read()
used = set()
for text in exprs + [alerts]:
    for m in re.findall(r"\b((?:rocketmq|rmq)_[a-z0-9_]+)", text):
        used.add(re.sub(r"_(total|bucket|count|sum)$", "", m) if m not in exported else m)
planned = set()
missing = sorted(n for n in used - planned if n not in exported and n + "_total" not in exported)
if missing:
    sys.exit(f"deploy-check: metrics used but not exported (docs/observability.md): {missing}")
print(f"   {len(exprs)} panel queries parse; {len(used)} metric names all exported")
PY
echo "deploy checks ok"
