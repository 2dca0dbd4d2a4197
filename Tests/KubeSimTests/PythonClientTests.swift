import BatonCore
import BatonTestSupport
import Foundation
import KubeSim
import Testing

/// KubeSim with a second real client beside kubectl: the Python kubernetes client (Debian's
/// `python3-kubernetes`), whose typed models send objects without `apiVersion` and `kind`.
@Suite("KubeSim: conformance with the Python kubernetes client")
struct PythonClientTests {
    /// Each step prints one line `NAME VALUE`; the test compares them.
    static let script = #"""
        import sys, time
        from kubernetes import client, config, watch
        from kubernetes.client.rest import ApiException
        config.load_kube_config(config_file=sys.argv[1])
        core, apps = client.CoreV1Api(), client.AppsV1Api()
        def say(name, value): print(name, value, flush=True)
        meta = client.V1ObjectMeta
        # Typed objects: the models leave apiVersion and kind out unless set.
        core.create_namespace(client.V1Namespace(metadata=meta(name="py")))
        for i in range(5):
            core.create_namespaced_config_map("py", client.V1ConfigMap(
                metadata=meta(name="cm-%d" % i, labels={"tier": "a" if i < 3 else "b"}), data={"i": str(i)}))
        made = core.read_namespaced_config_map("cm-0", "py")
        say("typed", "%s/%s" % (made.api_version, made.kind) if made.api_version else "-")
        say("selected", ",".join(sorted(c.metadata.name for c in core.list_namespaced_config_map("py", label_selector="tier=a").items)))
        names, token, pages = [], None, 0
        while True:
            page = core.list_namespaced_config_map("py", limit=2, _continue=token)
            pages += 1
            names += [c.metadata.name for c in page.items]
            token = page.metadata._continue
            if not token: break
        say("paged", "%d %s" % (pages, ",".join(names)))
        # Watch from a resourceVersion: only what happens after it.
        since = core.list_namespaced_config_map("py").metadata.resource_version
        made.data = {"i": "changed"}
        core.replace_namespaced_config_map("cm-0", "py", made)
        seen = []
        for event in watch.Watch().stream(core.list_namespaced_config_map, "py", resource_version=since, timeout_seconds=2):
            seen.append("%s:%s" % (event["type"], event["object"].metadata.name))
            break
        say("watched", ",".join(seen))
        # A write with a stale resourceVersion is a conflict.
        try:
            core.replace_namespaced_config_map("cm-0", "py", made)
            say("conflict", "none")
        except ApiException as e:
            say("conflict", e.status)
        try:
            core.create_namespaced_config_map("py", client.V1ConfigMap(metadata=meta(name="cm-1")))
            say("exists", "none")
        except ApiException as e:
            say("exists", e.status)
        # Scale through the subresource.
        apps.create_namespaced_deployment("py", client.V1Deployment(metadata=meta(name="web"), spec=client.V1DeploymentSpec(
            replicas=1, selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(metadata=meta(labels={"app": "web"}),
                                              spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx")])))))
        apps.patch_namespaced_deployment_scale("web", "py", {"spec": {"replicas": 3}})
        scale = apps.read_namespaced_deployment_scale("web", "py")
        say("scale", "%d %s" % (scale.spec.replicas, scale.status.selector))
        say("replicas", apps.read_namespaced_deployment("web", "py").spec.replicas)
        # RBAC: a Role and a RoleBinding made with typed models; user "alice" may read config maps in py only.
        rbac = client.RbacAuthorizationV1Api()
        rbac.create_namespaced_role("py", client.V1Role(metadata=meta(name="reader"), rules=[
            client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get", "list"])]))
        rbac.create_namespaced_role_binding("py", client.V1RoleBinding(metadata=meta(name="alice-reads"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="reader"),
            subjects=[client.V1Subject(kind="User", name="alice", api_group="rbac.authorization.k8s.io")]))
        alice = config.new_client_from_config(config_file=sys.argv[1], context="alice@baton-dev")
        say("alice-list", len(client.CoreV1Api(alice).list_namespaced_config_map("py").items))
        try:
            client.CoreV1Api(alice).list_config_map_for_all_namespaces()
            say("alice-wide", "allowed")
        except ApiException as e:
            import json
            say("alice-wide", "%d %s" % (e.status, json.loads(e.body)["message"]))
        review = client.AuthorizationV1Api(alice).create_self_subject_access_review(client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=client.V1ResourceAttributes(
                namespace="py", verb="delete", resource="configmaps"))))
        say("alice-may-delete", review.status.allowed)
        # Deleting the namespace takes what is in it along.
        core.delete_namespace("py")
        for _ in range(100):
            try:
                core.read_namespace("py")
                time.sleep(0.1)
            except ApiException as e:
                say("namespace", e.status)
                break
        say("left", len(core.list_config_map_for_all_namespaces(label_selector="tier").items))
        """#

    @Test("typed objects without TypeMeta, selectors, pages, a watch from a version, conflicts, scale, RBAC refusals and reviews, namespace deletion")
    func pythonClient() async throws {
        let h = try await KubectlHarness.start(users: ["alice-token": UserInfo(name: "alice")])
        defer { Task { await h.stop() } }
        let script = try h.file("conformance.py", Self.script)
        let run = try await CommandRun.run("/usr/bin/python3", [script, h.dir.path + "/kubeconfig"],
                                                environment: ["HOME": h.dir.path, "PATH": "/usr/bin:/bin"], replacingEnvironment: true)
        #expect(run.status == 0, "\(run.stderr)")
        var results: [String: String] = [:]
        for line in run.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            if parts.count == 2 { results[parts[0]] = parts[1] }
        }
        #expect(results["typed"] == "v1/ConfigMap", "\(run.stdout)")
        #expect(results["selected"] == "cm-0,cm-1,cm-2")
        #expect(results["paged"] == "3 cm-0,cm-1,cm-2,cm-3,cm-4")
        #expect(results["watched"] == "MODIFIED:cm-0", "\(run.stdout) \(run.stderr)")
        #expect(results["conflict"] == "409")
        #expect(results["exists"] == "409")
        #expect(results["scale"] == "3 app=web")
        #expect(results["replicas"] == "3")
        #expect(results["alice-list"] == "5", "\(run.stdout)")
        #expect(results["alice-wide"] == #"403 configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" at the cluster scope"#)
        #expect(results["alice-may-delete"] == "False")
        #expect(results["namespace"] == "404")
        #expect(results["left"] == "0")
    }
}
