#!/usr/bin/env python3
"""Writes Sources/KubeSim/API/BuiltInSchemas+Data.swift: which fields each built-in kind KubeSim
serves declares, read from Kubernetes' own OpenAPI v3 documents (api/openapi-spec/v3 of the
kubernetes source). KubeSim uses it to drop unknown fields as kube-apiserver does, and to refuse
them under fieldValidation=Strict.

    scripts/builtin-schemas.py SPEC_DIR [OUT]
    # e.g. from the microshift snapshot that vendors Kubernetes:
    git --git-dir=MICROSHIFT.git archive HEAD deps/github.com/openshift/kubernetes/api/openapi-spec/v3 | tar -x -C /tmp/spec
    scripts/builtin-schemas.py /tmp/spec/deps/github.com/openshift/kubernetes/api/openapi-spec/v3

The table is compact: per type, per field, one descriptor: "s" a scalar, "*" anything (kept
as sent: IntOrString, Quantity, RawExtension, x-kubernetes-preserve-unknown-fields), "T" a
type of the table, "[d" an array of d, "{d" a map of d.
"""
import json, os, sys

KINDS = [
    ("", "v1", "Namespace"), ("", "v1", "ConfigMap"), ("", "v1", "Secret"), ("", "v1", "Service"), ("", "v1", "ServiceAccount"),
    ("", "v1", "Pod"), ("", "v1", "PersistentVolumeClaim"), ("", "v1", "Endpoints"), ("", "v1", "ResourceQuota"), ("", "v1", "LimitRange"),
    ("apps", "v1", "Deployment"), ("apps", "v1", "StatefulSet"), ("apps", "v1", "DaemonSet"), ("apps", "v1", "ReplicaSet"),
    ("batch", "v1", "Job"), ("batch", "v1", "CronJob"),
    ("networking.k8s.io", "v1", "Ingress"), ("networking.k8s.io", "v1", "IngressClass"), ("networking.k8s.io", "v1", "NetworkPolicy"),
    ("discovery.k8s.io", "v1", "EndpointSlice"), ("autoscaling", "v2", "HorizontalPodAutoscaler"), ("policy", "v1", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io", "v1", "Role"), ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole"), ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
]

# Types whose values are not objects of fields, whatever the document says of them.
OPAQUE = {"io.k8s.apimachinery.pkg.util.intstr.IntOrString", "io.k8s.apimachinery.pkg.api.resource.Quantity",
          "io.k8s.apimachinery.pkg.apis.meta.v1.Time", "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
          "io.k8s.apimachinery.pkg.apis.meta.v1.Duration", "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
          "io.k8s.apimachinery.pkg.runtime.RawExtension",
          "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
          "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
          "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
          "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray"}


def main():
    spec_dir = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "Sources", "KubeSim", "API", "BuiltInSchemas+Data.swift")
    schemas = {}
    for name in sorted(os.listdir(spec_dir)):
        if name.endswith("_openapi.json"):
            with open(os.path.join(spec_dir, name)) as f:
                schemas.update(json.load(f).get("components", {}).get("schemas", {}))
    by_gvk = {}
    for name, schema in schemas.items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            by_gvk[(gvk["group"], gvk["version"], gvk["kind"])] = name

    types, names = {}, {}

    def short(name):
        if name not in names:
            names[name] = name.split(".")[-1] if name.split(".")[-1] not in names.values() else name
        return names[name]

    def ref(schema):
        if "$ref" in schema:
            return schema["$ref"].split("/")[-1]
        for key in ("allOf", "anyOf", "oneOf"):
            for item in schema.get(key, []):
                if "$ref" in item:
                    return item["$ref"].split("/")[-1]
        return None

    def describe(schema):
        if schema.get("x-kubernetes-preserve-unknown-fields") or schema.get("x-kubernetes-int-or-string"):
            return "*"
        target = ref(schema)
        if target:
            if target in OPAQUE:
                return "*"
            visit(target)
            return short(target)
        kind = schema.get("type")
        if kind == "array":
            return "[" + describe(schema.get("items", {}))
        if kind == "object" or "properties" in schema or "additionalProperties" in schema:
            if "properties" in schema:
                return "*"  # an inline object: not in the built-in kinds
            extra = schema.get("additionalProperties")
            return "{" + describe(extra) if isinstance(extra, dict) else "*"
        return "s"

    def visit(name):
        if name in types or name in OPAQUE:
            return
        types[name] = None
        schema = schemas[name]
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            types[name] = "*"
            return
        types[name] = {field: describe(child) for field, child in sorted(schema.get("properties", {}).items())}

    kinds = {}
    for group, version, kind in KINDS:
        name = by_gvk[(group, version, kind)]
        visit(name)
        kinds[(group + "/" if group else "") + version + "/" + kind] = short(name)
    table = {"kinds": kinds, "types": {short(name): fields for name, fields in sorted(types.items(), key=lambda item: short(item[0]))}}
    text = json.dumps(table, separators=(",", ":"), sort_keys=True)
    with open(out, "w") as f:
        f.write("// Generated by scripts/builtin-schemas.py from Kubernetes' api/openapi-spec/v3: do not edit.\n")
        f.write("// The fields each built-in kind declares (see BuiltInSchemas.swift).\n\n")
        f.write("extension BuiltInSchemas {\n    static let data = #\"\"\"\n")
        for start in range(0, len(text), 120):
            f.write(text[start:start + 120] + "\\#\n")
        f.write("\"\"\"#\n}\n")
    print(f"{out}: {len(kinds)} kinds, {len(types)} types, {len(text)} bytes")


main()
