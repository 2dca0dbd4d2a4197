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
echo "== baton sync corpus (first)"
baton sync corpus --revision main --no-wait || true
sleep 3   # the controllers make Endpoints, EndpointSlices, ReplicaSets; the HPA sets replicas
echo "== baton diff corpus (expect nothing to create, update or prune)"
baton diff corpus --revision main || true
echo "== baton sync corpus (second: expect every object unchanged)"
baton sync corpus --revision main --no-wait || true
echo "== what the server stored"
k() { kubectl --kubeconfig "$kubeconfig" --context "$context" "$@"; }
for kind in deployment replicaset service endpoints endpointslice secret configmap ingress horizontalpodautoscaler poddisruptionbudget \
    networkpolicy job widgets.corpus.example.com; do
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
