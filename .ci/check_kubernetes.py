#!/usr/bin/env python3
"""Check deploy/kubernetes without a cluster or kustomize (neither is on the machine).

    check_kubernetes.py [DIR]      default: deploy/kubernetes

Every YAML file parses; every kustomization's resources and patches exist (a directory
resource holds a kustomization.yaml), and every manifest is used by one; each overlay,
assembled as kustomize would (resources, then patches merged into the object they name),
has unique objects, ConfigMap keys for every key a workload mounts, Secrets for every
secretKeyRef, and a crmdav.toml that parses. The postgres overlay: a Deployment of at least
two replicas, a PodDisruptionBudget, a NetworkPolicy restricting egress, an Ingress with TLS,
and the operations port (http.ops_listen) on neither the Service nor the Ingress.
"""
import os
import sys
import tomllib

import yaml

ROOT = sys.argv[1] if len(sys.argv) > 1 else "deploy/kubernetes"
errors = []


def fail(msg):
    errors.append(msg)


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def key(obj):
    return (obj.get("kind"), obj.get("metadata", {}).get("name"))


def merge(base, patch):
    """Strategic merge, enough for maps (lists and scalars are replaced)."""
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v


used = set()


def build(directory):
    """The objects of the kustomization in `directory`, as kustomize would emit them."""
    kfile = os.path.join(directory, "kustomization.yaml")
    if not os.path.exists(kfile):
        fail(f"{directory}: no kustomization.yaml")
        return []
    used.add(os.path.normpath(kfile))
    (k,) = load(kfile)
    objs = []
    for res in k.get("resources", []):
        p = os.path.normpath(os.path.join(directory, res))
        if os.path.isdir(p):
            objs += build(p)
        elif os.path.isfile(p):
            used.add(p)
            objs += load(p)
        else:
            fail(f"{kfile}: resource {res} does not exist")
    for patch in k.get("patches", []):
        p = os.path.normpath(os.path.join(directory, patch["path"]))
        if not os.path.isfile(p):
            fail(f"{kfile}: patch {patch['path']} does not exist")
            continue
        used.add(p)
        for pd in load(p):
            target = [o for o in objs if key(o) == key(pd)]
            if len(target) != 1:
                fail(f"{p}: patches {key(pd)}, found {len(target)} such objects")
            else:
                merge(target[0], pd)
    return objs


def check_overlay(name, objs):
    keys = [key(o) for o in objs]
    for kk in set(keys):
        if keys.count(kk) > 1:
            fail(f"{name}: {kk} defined {keys.count(kk)} times")
    for o in objs:
        for field in ("apiVersion", "kind"):
            if field not in o:
                fail(f"{name}: an object without {field}")
    by = {key(o): o for o in objs}
    cms = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ConfigMap"}
    secrets = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Secret"}
    workloads = [o for o in objs if o["kind"] in ("Deployment", "StatefulSet")]
    if len(workloads) != 1:
        fail(f"{name}: {len(workloads)} workloads, want 1")
        return
    w = workloads[0]
    pod = w["spec"]["template"]["spec"]
    for vol in pod.get("volumes", []):
        if "configMap" in vol:
            cm = cms.get(vol["configMap"]["name"])
            if cm is None:
                fail(f"{name}: volume {vol['name']} names a missing ConfigMap")
                continue
            for item in vol["configMap"].get("items", []):
                if item["key"] not in cm.get("data", {}):
                    fail(f"{name}: ConfigMap has no key {item['key']}")
            for data_key in cm.get("data", {}):
                if data_key not in [i["key"] for i in vol["configMap"].get("items", [])]:
                    fail(f"{name}: ConfigMap key {data_key} is mounted nowhere")
        if "secret" in vol and vol["secret"]["secretName"] not in secrets:
            fail(f"{name}: volume {vol['name']} names a missing Secret")
    for c in pod["containers"]:
        for env in c.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref and ref["key"] not in secrets.get(ref["name"], {}).get("stringData", {}):
                fail(f"{name}: env {env['name']} names a missing Secret key")
    try:
        server = tomllib.loads(cms["crmdav-config"]["data"]["crmdav.toml"])
    except (KeyError, tomllib.TOMLDecodeError) as e:
        fail(f"{name}: crmdav.toml: {e}")
        return
    if name == "postgres":
        if w["kind"] != "Deployment" or w["spec"].get("replicas", 1) < 2:
            fail("postgres: want a Deployment of 2+ replicas")
        if not server["state"].startswith("${"):
            fail("postgres: the state URL must come from the environment (a Secret)")
        ops = server.get("http", {}).get("ops_listen")
        if not ops:
            fail("postgres: no http.ops_listen")
        ops_port = int(ops.rsplit(":", 1)[1]) if ops else None
        ops_names = {p["name"] for c in pod["containers"] for p in c.get("ports", [])
                     if p["containerPort"] == ops_port}
        svc = by.get(("Service", "crmdav"), {})
        for p in svc.get("spec", {}).get("ports", []):
            if p.get("targetPort") in ops_names | {ops_port}:
                fail("postgres: the Service exposes the operations port")
        ing = [o for o in objs if o["kind"] == "Ingress"]
        if len(ing) != 1 or not ing[0]["spec"].get("tls"):
            fail("postgres: want one Ingress with TLS")
        for o in ing:
            for rule in o["spec"].get("rules", []):
                for path in rule["http"]["paths"]:
                    if path["backend"]["service"]["port"].get("name") != "http":
                        fail("postgres: the Ingress routes to a port other than http")
        if not any(o["kind"] == "PodDisruptionBudget" for o in objs):
            fail("postgres: no PodDisruptionBudget")
        nps = [o for o in objs if o["kind"] == "NetworkPolicy"]
        if not nps or "Egress" not in nps[0]["spec"].get("policyTypes", []):
            fail("postgres: no NetworkPolicy restricting egress")
    else:
        if w["kind"] != "StatefulSet" or w["spec"].get("replicas") != 1:
            fail(f"{name}: SQLite wants a StatefulSet of exactly one replica")


all_yaml = set()
for d, _, files in os.walk(ROOT):
    for f in files:
        if f.endswith((".yaml", ".yml")):
            p = os.path.normpath(os.path.join(d, f))
            all_yaml.add(p)
            try:
                load(p)
            except yaml.YAMLError as e:
                fail(f"{p}: {e}")
overlays = os.path.join(ROOT, "overlays")
names = sorted(os.listdir(overlays))
if names != ["postgres", "sqlite"]:
    fail(f"overlays: {names}")
for name in names:
    check_overlay(name, build(os.path.join(overlays, name)))
for p in sorted(all_yaml - used):
    fail(f"{p}: used by no kustomization")
for e in errors:
    print(f"check_kubernetes: {e}", file=sys.stderr)
print(f"check_kubernetes: {len(all_yaml)} files, {len(names)} overlays: "
      + ("FAILED" if errors else "ok"))
sys.exit(1 if errors else 0)
