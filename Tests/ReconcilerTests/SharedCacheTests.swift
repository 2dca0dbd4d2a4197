import BatonCore
import BatonTestSupport
import Foundation
import HTTP
import Kube
import KubeSim
import Manifests
import Reconciler
import Testing

/// Several environments on one cluster sharing one watch-fed cache (as `baton run` sets them up).
@Suite("Reconciler: one shared cache per cluster")
struct SharedCacheTests {
    static let selector = Normalizer.managedByLabel + "=" + Normalizer.managedByValue

    /// Waits (up to 10 s) until `scopes` are synced in `cache` (asking for them starts them).
    func synced(_ cache: ClusterCache, _ scopes: [ClusterCache.Scope]) async throws {
        for _ in 0..<100 {
            var all = true
            for scope in scopes where await cache.objects(scope) == nil { all = false }
            if all { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the cache did not sync \(scopes)")
    }

    /// A ConfigMap synced into namespace shop by a reconciler on a shared cache, whose
    /// ConfigMap watch there is synced.
    func syncedConfigMap(_ fixture: Fixture) async throws -> (revision: String, cache: ClusterCache, reconciler: Reconciler, scope: ClusterCache.Scope) {
        let revision = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/cm.yaml": configMapYAML("settings", "1")])
        let cache = ClusterCache(client: fixture.client, labelSelector: Self.selector)
        let plain = fixture.reconciler()
        let reconciler = Reconciler(environment: plain.environment, client: fixture.client, renderer: plain.renderer, inventory: fixture.audit,
                                    cache: cache)
        #expect(await reconciler.sync(revision: revision).errors == [])
        let scope = ClusterCache.Scope(apiVersion: "v1", kind: "ConfigMap", namespace: "shop")
        _ = await cache.objects(scope)
        try await synced(cache, [scope])
        return (revision, cache, reconciler, scope)
    }

    @Test("four environments in one namespace: one list per kind, then passes read the cache and send nothing")
    func oneListPerKindAndNamespace() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        var files = ["ns/ns.yaml": namespaceYAML]
        for index in 1...4 {
            files["e\(index)/cm.yaml"] = configMapYAML("settings-\(index)", "1")
            files["e\(index)/web.yaml"] = deploymentYAML("web-\(index)", image: "shop:1")
        }
        let revision = try await fixture.commit(files)
        #expect(await fixture.reconciler(name: "base", path: "ns").sync(revision: revision).errors == [])
        let cache = ClusterCache(client: fixture.client, labelSelector: Self.selector)
        let reconcilers = (1...4).map { index in
            let plain = fixture.reconciler(name: "e\(index)", path: "e\(index)")
            return Reconciler(environment: plain.environment, client: fixture.client, renderer: plain.renderer, inventory: fixture.audit, cache: cache)
        }
        for reconciler in reconcilers { #expect(await reconciler.sync(revision: revision).errors == []) }
        let scopes = [ClusterCache.Scope(apiVersion: "v1", kind: "ConfigMap", namespace: "shop"),
                      ClusterCache.Scope(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop")]
        try await synced(cache, scopes)
        #expect(await cache.scopeCount == 2)

        // Once the Deployment controller has written its revision annotation (seen through the
        // watch), one round takes that in (a dry run per Deployment).
        for _ in 0..<100 {
            let deployments = await cache.objects(scopes[1]) ?? [:]
            if deployments.count == 4, deployments.values.allSatisfy({ $0[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]] != nil }) {
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        for reconciler in reconcilers { #expect(await reconciler.sync(revision: revision).errors == []) }
        let gets = fixture.server.requests.count("GET"), dryRuns = fixture.server.requests.count("DRYRUN-PATCH")
        let writes = CorpusTests.writes(fixture.server)
        for _ in 0..<3 {
            for reconciler in reconcilers {
                let again = await reconciler.sync(revision: revision)
                #expect(again.errors == [] && again.synced && !again.applied)
            }
        }
        // Twelve passes of four environments: no read, no dry run, no write reached the server.
        #expect(fixture.server.requests.count("GET") == gets, "passes read the cluster instead of the cache")
        #expect(fixture.server.requests.count("DRYRUN-PATCH") == dryRuns, "passes asked for dry runs again")
        #expect(CorpusTests.writes(fixture.server) == writes)
        // One namespace: the cache listed each kind once in it, shared by the four environments
        // (no cluster-wide watch for one namespace, though the identity may); passes never listed.
        #expect(await cache.watchesClusterWide(apiVersion: "v1", kind: "ConfigMap") == false)
        #expect(fixture.server.requests.count("GET", "/api/v1/namespaces/shop/configmaps") == 1)
        #expect(fixture.server.requests.count("GET", "/apis/apps/v1/namespaces/shop/deployments") == 1)
        #expect(fixture.server.requests.count("GET", "/api/v1/configmaps") == 0)
        #expect(fixture.server.requests.count("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") == 0)

        // A change made by someone else reaches the cache through the watch; the pass sees it.
        let scaled = try await fixture.kubectl(["-n", "shop", "patch", "deployment", "web-2", "--type", "merge", "-p", #"{"spec":{"replicas":4}}"#])
        #expect(scaled.status == 0, "\(scaled.stderr)")
        var seen = false
        for _ in 0..<50 where !seen {
            seen = await cache.objects(scopes[1])?["web-2"]?[path: ["spec", "replicas"]] == 4
            if !seen { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(seen, "the watch did not report the change")
        #expect(await reconcilers[1].sync(revision: revision, healDrift: false).driftFound)
        await cache.stop()  // before the server stops: no watch reconnects while it does
    }

    @Test("a kind used in three namespaces is watched cluster-wide once allowed; the namespaces' watches serve until then, then stop")
    func clusterWideFromThreeNamespaces() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let cache = ClusterCache(client: fixture.client, labelSelector: Self.selector)
        var scopes: [ClusterCache.Scope] = []
        for name in ["a", "b", "c"] {
            _ = try await fixture.client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": .object(["name": .string(name)])])
            _ = try await fixture.client.apply(["apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": .object(["name": "settings", "namespace": .string(name),
                                                                     "labels": .object([Normalizer.managedByLabel: "baton"])])])
            scopes.append(ClusterCache.Scope(apiVersion: "v1", kind: "ConfigMap", namespace: name))
            try await synced(cache, [scopes.last!])
            #expect(await cache.objects(scopes.last!)?["settings"] != nil)
        }
        // The third namespace asked for a review, then one list and watch for every namespace.
        for _ in 0..<100 where !(await cache.watchesClusterWide(apiVersion: "v1", kind: "ConfigMap")) {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(await cache.watchesClusterWide(apiVersion: "v1", kind: "ConfigMap"))
        #expect(fixture.server.requests.count("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") == 2)  // list, watch
        #expect(fixture.server.requests.count("GET", "/api/v1/configmaps") == 1)
        // The third namespace waited for it rather than start a watch of its own.
        #expect(fixture.server.requests.count("GET", "/api/v1/namespaces/c/configmaps") == 0)
        #expect(await cache.scopeCount == 1)
        for scope in scopes { #expect(await cache.objects(scope)?["settings"] != nil) }
        // A fourth namespace is served by the same watch: no list of its own.
        _ = try await fixture.client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "d"]])
        _ = try await fixture.client.apply(["apiVersion": "v1", "kind": "ConfigMap",
                                            "metadata": .object(["name": "late", "namespace": "d", "labels": .object([Normalizer.managedByLabel: "baton"])])])
        var seen = false
        for _ in 0..<50 where !seen {
            seen = await cache.objects(ClusterCache.Scope(apiVersion: "v1", kind: "ConfigMap", namespace: "d"))?["late"] != nil
            if !seen { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(seen)
        #expect(fixture.server.requests.count("GET", "/api/v1/namespaces/d/configmaps") == 0)
        await cache.stop()
    }

    @Test("without cluster-wide rights, three namespaces are each watched on their own once the review says no; a watch the server ends resumes without listing again")
    func watchResumesWithoutRelist() async throws {
        let fixture = try await Fixture.start(users: ["reader-token": UserInfo(name: "reader")])
        defer { Task { await fixture.stop() } }
        let revision = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/cm.yaml": configMapYAML("settings", "1")])
        #expect(await fixture.reconciler().sync(revision: revision).errors == [])
        // "reader" may read and watch ConfigMaps in shop, b and c only.
        for namespace in ["shop", "b", "c"] {
            if namespace != "shop" { _ = try await fixture.client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)]]) }
            _ = try await fixture.client.apply(["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                                                "metadata": ["name": "read", "namespace": .string(namespace)],
                                                "rules": [["apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]]]])
            _ = try await fixture.client.apply(["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                                                "metadata": ["name": "reader-read", "namespace": .string(namespace)],
                                                "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read"],
                                                "subjects": [["kind": "User", "name": "reader"]]])
        }
        // The server ends each watch after a second, as kube-apiserver does after timeoutSeconds.
        let cache = ClusterCache(client: try fixture.client(context: "reader@baton-dev"), labelSelector: Self.selector, watchTimeout: .seconds(1))
        let scope = ClusterCache.Scope(apiVersion: "v1", kind: "ConfigMap", namespace: "shop")
        let others = ["b", "c"].map { ClusterCache.Scope(apiVersion: "v1", kind: "ConfigMap", namespace: $0) }
        _ = await cache.objects(scope)
        try await synced(cache, [scope])
        // The third namespace makes the cache ask whether it may watch cluster-wide: it may not
        // (list refused), so every namespace keeps a watch of its own.
        let reviews = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        for other in others { _ = await cache.objects(other) }
        for _ in 0..<100 where fixture.server.requests.count("POST", reviews) == 0 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(fixture.server.requests.count("POST", reviews) == 1, "the review was not asked, or asked for watch after list was refused")
        for other in others {
            for _ in 0..<100 where await cache.objects(other) == nil {
                _ = await cache.objects(other)  // read directly while the review asks; watched once it said no
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(await cache.objects(other) != nil, "namespace \(other.namespace) is not watched")
        }
        #expect(await cache.watchesClusterWide(apiVersion: "v1", kind: "ConfigMap") == false)
        #expect(fixture.server.requests.count("GET", "/api/v1/configmaps") == 0, "a cluster-wide list was tried")
        #expect(await cache.scopeCount == 3)
        for _ in 0..<40 where fixture.server.requests.count("WATCH", "/api/v1/namespaces/shop/configmaps") < 3 {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(fixture.server.requests.count("WATCH", "/api/v1/namespaces/shop/configmaps") >= 3, "the watch was not resumed")
        #expect(fixture.server.requests.count("GET", "/api/v1/namespaces/shop/configmaps") == 1, "the watch listed again")
        // It still follows changes.
        try await fixture.client.apply(.object(["apiVersion": "v1", "kind": "ConfigMap", "metadata": .object([
            "name": "late", "namespace": "shop", "labels": .object([Normalizer.managedByLabel: "baton"]),
        ])]), fieldManager: "someone")
        var seen = false
        for _ in 0..<50 where !seen {
            seen = await cache.objects(scope)?["late"] != nil
            if !seen { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(seen)
        await cache.stop()  // before the server stops: no watch reconnects while it does
    }

    @Test("the cache keeps objects without managedFields, takes in Baton's own apply answers at once, and never goes back to an older version")
    func ownWritesAndStripping() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let revision = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/cm.yaml": configMapYAML("settings", "1")])
        let cache = ClusterCache(client: fixture.client, labelSelector: Self.selector)
        let scope = ClusterCache.Scope(apiVersion: "v1", kind: "ConfigMap", namespace: "shop")
        let plain = fixture.reconciler()
        let reconciler = Reconciler(environment: plain.environment, client: fixture.client, renderer: plain.renderer, inventory: fixture.audit,
                                    cache: cache)
        #expect(await reconciler.sync(revision: revision).errors == [])
        _ = await cache.objects(scope)
        try await synced(cache, [scope])
        let live = try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "settings", namespace: "shop")
        #expect(live[path: ["metadata", "managedFields"]] != nil, "the server keeps managedFields")
        let held = try #require(await cache.objects(scope)?["settings"])
        #expect(held[path: ["metadata", "managedFields"]] == nil, "the cache kept managedFields")

        // An apply's answer (here a newer version the server never saw) is what the cache holds at once.
        let version = try #require(Int64(live[path: ["metadata", "resourceVersion"]]?.string ?? ""))
        var answer = live
        answer[path: ["data", "value"]] = "from-the-answer"
        answer[path: ["metadata", "resourceVersion"]] = .string(String(version + 1000))
        await cache.observe(answer, scope: scope)
        let observed = await cache.objects(scope)?["settings"]
        #expect(observed?[path: ["data", "value"]] == "from-the-answer" && observed?[path: ["metadata", "managedFields"]] == nil)
        // A report of an older version (a late watch event) does not replace it.
        var stale = live
        stale[path: ["data", "value"]] = "stale"
        await cache.observe(stale, scope: scope)
        #expect(await cache.objects(scope)?["settings"]?[path: ["data", "value"]] == "from-the-answer")
        await cache.stop()
    }

    @Test("a server upgraded while Baton runs (its watches ended early, a new version): discovery is read again and every verdict is asked for anew")
    func upgradeFlushesVerdicts() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let (revision, cache, reconciler, _) = try await syncedConfigMap(fixture)
        // The first list read the server's version (one check, at most every 5 s).
        for _ in 0..<50 where fixture.server.requests.count("GET", "/version") == 0 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(fixture.server.requests.count("GET", "/version") == 1)
        let generation = await fixture.client.discoveryGeneration
        let dryRuns = { fixture.server.requests.count("DRYRUN-PATCH") }
        let before = dryRuns()
        #expect(await reconciler.sync(revision: revision).errors == [])
        #expect(dryRuns() == before, "an unchanged pass asked for a dry run")

        // The same version, watches ended early (a restart): checked, nothing flushed.
        try await Task.sleep(for: .seconds(5))
        await fixture.server.state.dropWatches()
        for _ in 0..<50 where fixture.server.requests.count("GET", "/version") < 2 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(fixture.server.requests.count("GET", "/version") == 2)
        #expect(await fixture.client.discoveryGeneration == generation)
        #expect(await reconciler.sync(revision: revision).errors == [])
        #expect(dryRuns() == before, "a restart of the same server flushed the verdicts")

        // Upgraded: the next pass asks the server again (its defaults may have changed).
        try await Task.sleep(for: .seconds(5))
        await fixture.server.simulation.setVersion("v1.33.1-kubesim")
        await fixture.server.state.dropWatches()
        for _ in 0..<80 where await fixture.client.discoveryGeneration == generation { try await Task.sleep(for: .milliseconds(100)) }
        #expect(await fixture.client.discoveryGeneration > generation, "the upgrade went unnoticed")
        let report = await reconciler.sync(revision: revision)
        #expect(report.errors == [] && report.synced)
        #expect(dryRuns() > before, "verdicts given by the old server were trusted after the upgrade")
        await cache.stop()
    }

    @Test("faults: a dropped watch resumes without listing; after compaction it lists again; a frozen server leaves the pass unavailable, then it syncs")
    func faults() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let (_, cache, _, scope) = try await syncedConfigMap(fixture)
        let lists = { fixture.server.requests.count("GET", "/api/v1/namespaces/shop/configmaps") }
        let watches = { fixture.server.requests.count("WATCH", "/api/v1/namespaces/shop/configmaps") }
        #expect(lists() == 1)

        // Watch dropped: resumed from its version, no list.
        let opened = watches()
        await fixture.server.state.dropWatches()
        for _ in 0..<50 where watches() == opened { try await Task.sleep(for: .milliseconds(100)) }
        #expect(watches() > opened, "the dropped watch was not resumed")
        #expect(lists() == 1, "a dropped watch listed again")

        // History compacted, then dropped: the resume gets 410, the cache lists again and sees a change made meanwhile.
        _ = try await fixture.kubectl(["-n", "shop", "label", "configmap", "settings", "seen=yes"])
        // A write the watch does not see (no Baton label) moves the cluster past the watch's version.
        try await fixture.client.apply(.object(["apiVersion": "v1", "kind": "ConfigMap", "metadata": .object(["name": "noise", "namespace": "shop"])]),
                                       fieldManager: "someone")
        await fixture.server.state.compact()
        await fixture.server.state.dropWatches()
        for _ in 0..<50 where lists() == 1 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(lists() == 2, "after 410 the watch did not list again")
        var labelled = false
        for _ in 0..<50 where !labelled {
            labelled = await cache.objects(scope)?["settings"]?[path: ["metadata", "labels", "seen"]] == "yes"
            if !labelled { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(labelled)

        // Frozen: connections accepted, nothing answered. A pass that must ask the server
        // (a new revision) ends unavailable, not failed; once the server answers, it syncs.
        let second = try await fixture.commit(["app/cm.yaml": configMapYAML("settings", "2")])
        let quick = try await fixture.impatientClient()
        let plain = fixture.reconciler()
        let impatient = Reconciler(environment: plain.environment, client: quick, renderer: plain.renderer, inventory: fixture.audit)
        await fixture.server.simulation.faults.freeze(for: .seconds(3))
        let frozen = await impatient.sync(revision: second)
        #expect(frozen.unavailable && !frozen.errors.isEmpty, "\(frozen.errors)")
        try await Task.sleep(for: .seconds(3))
        let thawed = await impatient.sync(revision: second)
        #expect(thawed.errors == [] && thawed.synced && thawed.applied)
        await cache.stop()  // before the server stops: no watch reconnects while it does
    }

    @Test("a black hole: a pass in it is unavailable; the watch it left half-open is found silent and resumed, so a change made after it reaches the cache")
    func blackHole() async throws {
        let fixture = try await Fixture.start(bookmarkInterval: .milliseconds(400))
        defer { Task { await fixture.stop() } }
        let revision = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/cm.yaml": configMapYAML("settings", "1")])
        // Bookmarks every 0.4 s, silence limit 1.5 s: as kube-apiserver's minute against the default 90 s.
        let cache = ClusterCache(client: fixture.client, labelSelector: Self.selector, watchSilence: .milliseconds(1500))
        let plain = fixture.reconciler()
        #expect(await plain.sync(revision: revision).errors == [])
        let scope = ClusterCache.Scope(apiVersion: "v1", kind: "ConfigMap", namespace: "shop")
        _ = await cache.objects(scope)
        try await synced(cache, [scope])
        let lists = { fixture.server.requests.count("GET", "/api/v1/namespaces/shop/configmaps") }
        let watches = { fixture.server.requests.count("WATCH", "/api/v1/namespaces/shop/configmaps") }
        // Quiet but alive (bookmarks): not replaced.
        try await waitUntil("the watch to be open") { await fixture.server.state.watcherCount > 0 }
        let opened = watches()
        try await Task.sleep(for: .seconds(2))
        #expect(watches() == opened, "a live watch was replaced")

        let second = try await fixture.commit(["app/cm.yaml": configMapYAML("settings", "2")])
        let quick = try await fixture.impatientClient()
        let impatient = Reconciler(environment: plain.environment, client: quick, renderer: plain.renderer, inventory: fixture.audit)
        // The hole stays open until the cache is seen distrusting the scope, however late a
        // loaded machine runs the sync (a hole of fixed length can close before it); 40 s only
        // bounds a failing run.
        fixture.server.simulation.faults.blackHole.open(for: .seconds(40))
        let lost = await impatient.sync(revision: second)
        #expect(lost.unavailable && !lost.errors.isEmpty, "\(lost.errors)")
        // While its watch is down the cache does not answer for the scope.
        var distrusted = false
        for _ in 0..<40 where !distrusted {
            distrusted = await cache.objects(scope) == nil
            if !distrusted { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(distrusted, "the cache kept trusting a silent watch")
        fixture.server.simulation.faults.blackHole.close()
        let back = await impatient.sync(revision: second)
        #expect(back.errors == [] && back.synced && back.applied, "\(back.errors)")
        // Someone else's change after the hole reaches the cache through the resumed watch.
        _ = try await fixture.kubectl(["-n", "shop", "label", "configmap", "settings", "seen=after"])
        var seen = false
        for _ in 0..<200 where !seen {
            seen = await cache.objects(scope)?["settings"]?[path: ["metadata", "labels", "seen"]] == "after"
            if !seen { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(seen, "the change after the hole never reached the cache")
        #expect(watches() > opened)
        #expect(lists() == 1, "the watch listed again instead of resuming")
        await cache.stop()
    }
}
