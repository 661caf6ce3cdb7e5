#!/usr/bin/env python3
"""Helpers for ci/k8s.sh.

  k8s-split.py RENDERED CORE        write RENDERED's resources that Kubernetes itself
                                    defines (no CRDs) to CORE, for kubernetes-validate
  k8s-split.py --check OPERATOR ALL check the operators' resources in the rendered
                                    kustomizations against their sources
"""
import json
import sys

import yaml

CRDS = {"SeccompProfile", "ServiceMonitor", "PrometheusRule"}


def split(rendered, core):
    docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
    yaml.safe_dump_all([d for d in docs if d["kind"] not in CRDS], open(core, "w"))


def by_kind(path):
    """The resources by kind (the last of a kind: the checks look at one of each)."""
    return {d["kind"]: d for d in yaml.safe_load_all(open(path)) if d}


def check(operator, everything):
    rendered = by_kind(operator)
    profile = json.load(open("deploy/seccomp/greeter.json"))
    want = {k: profile[k] for k in ("defaultAction", "architectures", "syscalls")}
    assert rendered["SeccompProfile"]["spec"] == want, "SeccompProfile != greeter.json"
    pod = rendered["Deployment"]["spec"]["template"]["spec"]
    where = pod["securityContext"]["seccompProfile"]
    assert where == {"type": "Localhost", "localhostProfile": "operator/greeter.json"}, where
    assert "--sandbox" in pod["containers"][0]["args"], "the Deployment runs without --sandbox"
    rules = yaml.safe_load(open("deploy/prometheus/greeter-rules.yaml"))
    monitoring = by_kind(everything)
    assert monitoring["PrometheusRule"]["spec"]["groups"] == rules["groups"], "PrometheusRule != greeter-rules.yaml"
    assert monitoring["ServiceMonitor"]["spec"]["endpoints"][0]["path"] == "/metrics"
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["GREETER_METRICS_LISTEN"] == "[::]:9090", "metrics must be on the admin port"
    assert env["GREETER_LISTEN"].startswith("[::]:"), "dual stack"
    for probe in ("readinessProbe", "livenessProbe"):
        assert pod["containers"][0][probe]["httpGet"]["port"] == "admin", probe


if __name__ == "__main__":
    if sys.argv[1] == "--check":
        check(sys.argv[2], sys.argv[3])
    else:
        split(sys.argv[1], sys.argv[2])
