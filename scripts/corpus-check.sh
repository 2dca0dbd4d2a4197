#!/usr/bin/env bash
# scripts/corpus-check.sh KUBECONFIG CONTEXT [NAMESPACE]
#
# Syncs the ordinary application of examples/corpus into a cluster with `baton sync`, then asks
# `baton diff` and a second `baton sync` what is left to do, and prints what the server stored
# for each object (managedFields, uid, timestamps and resourceVersion left out). Run it once
# against ../shared/realkube (a real kube-apiserver and controller manager) and once against
# `baton sim up`, and compare the two outputs by hand: what differs is what KubeSim still gets
# wrong (its README lists what is known). Leaves a namespace NAMESPACE (default baton-corpus)
# behind; delete it with kubectl when done.
#
# BATON_BIN names the folder of the baton binary (default: `swift build --show-bin-path`).
#
# CORPUS_NORMALIZE=1 prints, instead, only what does not depend on the run: the diff summary and
# every stored object with generated names, hashes, uids, cluster IPs, revisions and times
# replaced by placeholders, sorted, leaving out what only one side has by design (the real
# server's `kube-root-ca.crt` and `openshift-service-ca.crt` ConfigMaps). That output, taken on
# ../shared/realkube, is examples/corpus/stored-by-kube-apiserver-1.36.txt; a test compares
# KubeSim's with it.
set -euo pipefail
kubeconfig=${1:?usage: corpus-check.sh KUBECONFIG CONTEXT [NAMESPACE]}
context=${2:?usage: corpus-check.sh KUBECONFIG CONTEXT [NAMESPACE]}
namespace=${3:-baton-corpus}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BATON_BIN:-$(cd "$here" && swift build --show-bin-path)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/repo/app" "$work/config/Environments" "$work/config/Pipelines"
cp "$here"/examples/corpus/*.yaml "$work/repo/app/"
git -C "$work/repo" init -q -b main
git -C "$work/repo" -c user.name=corpus -c user.email=corpus@example.com add -A
git -C "$work/repo" -c user.name=corpus -c user.email=corpus@example.com commit -qm corpus
cat > "$work/config/Environments/corpus.yaml" <<YAML
apiVersion: baton/v1
kind: Environment
name: corpus
cluster:
  kubeconfig: $kubeconfig
  context: $context
namespace: $namespace
source:
  path: app
  render: plain
sync:
  prune: true
  createNamespace: true
scope:
  clusterResources: [Namespace, apiextensions.k8s.io/CustomResourceDefinition]
ignoreDifferences:
  - group: apps
    kind: Deployment
    jsonPointers: [/spec/replicas]
YAML
cat > "$work/config/Pipelines/corpus.yaml" <<YAML
apiVersion: baton/v1
kind: Pipeline
name: corpus
repo:
  url: $work/repo
  branch: main
stages:
  - environment: corpus
    promote: auto
YAML

baton() { "$bin/baton" "$@" --dir "$work/config"; }
k() { kubectl --kubeconfig "$kubeconfig" --context "$context" "$@"; }
kinds="deployment replicaset service endpoints endpointslice secret configmap ingress horizontalpodautoscaler poddisruptionbudget
    networkpolicy job widgets.corpus.example.com"
if [ "${CORPUS_NORMALIZE:-}" = 1 ]; then
  baton sync corpus --revision main --no-wait >/dev/null 2>&1 || true
  # The controllers make Endpoints, EndpointSlices and ReplicaSets; the HPA controller (every
  # 15 s on a real cluster) scales the Deployment to its minReplicas.
  for _ in $(seq 60); do
    desired=$(k -n "$namespace" get hpa web -o jsonpath='{.status.desiredReplicas}' 2>/dev/null || true)
    [ -n "$desired" ] && [ "$(k -n "$namespace" get deployment web -o jsonpath='{.spec.replicas}' 2>/dev/null)" = "$desired" ] && break
    sleep 1
  done
  sleep 3
  echo "== baton diff"
  baton diff corpus --revision main 2>&1 | sed -E 's/ at [0-9a-f]{8}:/ at REVISION:/' | grep ' to create' || true
  for kind in $kinds; do k -n "$namespace" get "$kind" -o json 2>/dev/null; done | python3 -c '
import json, re, sys
text = sys.stdin.read()
decoder, index, objects = json.JSONDecoder(), 0, []
while index < len(text):
    while index < len(text) and text[index].isspace(): index += 1
    if index >= len(text): break
    value, index = decoder.raw_decode(text, index)
    objects += value.get("items", [])
uids = {}
def mask(value):
    if isinstance(value, dict): return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list): return [mask(v) for v in value]
    if isinstance(value, str):
        value = re.sub(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", "UID", value)
        value = re.sub(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", "TIME", value)
        value = re.sub(r"^10\.96\.\d+\.\d+$", "CLUSTER-IP", value)
    return value
out = []
for o in objects:
    m = o.setdefault("metadata", {})
    if o.get("kind") == "ConfigMap" and m.get("name") in ("kube-root-ca.crt", "openshift-service-ca.crt"): continue
    for key in ("managedFields", "uid", "resourceVersion", "creationTimestamp", "generation"): m.pop(key, None)
    o.pop("status", None)
    annotations = m.get("annotations", {})
    if "baton.dev/revision" in annotations: annotations["baton.dev/revision"] = "REVISION"
    if "baton.dev/content-hash" in annotations: annotations["baton.dev/content-hash"] = "HASH"
    hashes = [m.get("labels", {}).get("pod-template-hash")]
    if m.get("generateName"): m["name"] = m["generateName"] + "GENERATED"
    o = json.loads(re.sub("|".join(re.escape(h) for h in hashes if h) or "(?!)", "POD-TEMPLATE-HASH", json.dumps(o)))
    out.append(mask(o))
out.sort(key=lambda o: (o.get("kind", ""), o["metadata"].get("name", "")))
for o in out:
    print("--- %s %s" % (o.get("kind"), o["metadata"].get("name")))
    print(json.dumps(o, indent=1, sort_keys=True))'
  exit 0
fi
echo "== baton sync corpus (first)"
baton sync corpus --revision main --no-wait || true
sleep 3   # the controllers make Endpoints, EndpointSlices, ReplicaSets; the HPA sets replicas
echo "== baton diff corpus (expect nothing to create, update or prune)"
baton diff corpus --revision main || true
echo "== baton sync corpus (second: expect every object unchanged)"
baton sync corpus --revision main --no-wait || true
echo "== what the server stored"
for kind in $kinds; do
  for name in $(k -n "$namespace" get "$kind" -o name 2>/dev/null); do
    echo "--- $name"
    k -n "$namespace" get "$name" -o json | python3 -c '
import json, sys
o = json.load(sys.stdin)
m = o.get("metadata", {})
for key in ("managedFields", "uid", "resourceVersion", "creationTimestamp", "generation"):
    m.pop(key, None)
o.pop("status", None)
print(json.dumps(o, indent=1, sort_keys=True))'
  done
done
