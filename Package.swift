// swift-tools-version: 6.2
//
// Baton's targets, grouped by the layers of DESIGN.md §3. A module imports only modules of a
// lower layer; modules of one layer never import each other.
import PackageDescription

/// Every Swift target of ours: Swift 6 language mode (strict concurrency) and no warnings.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "Baton",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "baton", targets: ["baton"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", exact: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        .package(url: "https://github.com/apple/swift-asn1", exact: "1.7.4"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
    ],
    targets: [
        // MARK: Layer 0 — C bindings (system libraries found through pkg-config)

        // libgit2, plus typed wrappers for its variadic functions. Imported only by GitStore.
        .systemLibrary(
            name: "CGit2",
            pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev"])]
        ),
        // libcurl, plus typed wrappers for its variadic functions. Imported only by HTTP.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),

        // Child processes through posix_spawn (Foundation's Process.run crashes now and then on
        // Linux with Swift 6.3.1): kustomize, credential helpers, and the tests' servers.
        .target(
            name: "Spawn",
            exclude: ["README.md"],
            swiftSettings: strict
        ),

        // MARK: Layer 1 — values, errors, configuration

        // Durations, names, the Environment and Pipeline model and its validated YAML loading.
        .target(
            name: "BatonCore",
            dependencies: ["Spawn", .product(name: "Yams", package: "Yams")],
            exclude: ["README.md"],
            swiftSettings: strict
        ),

        // MARK: Layer 2 — storage and transport

        // The config repository through libgit2: open, clone, fetch, revisions, trees without
        // checkout, history, refs with compare-and-swap, push.
        .target(
            name: "GitStore",
            dependencies: ["CGit2", "Spawn"],
            exclude: ["README.md"],
            swiftSettings: strict
        ),

        // One reusable HTTP client over libcurl: keep-alive, HTTP/2, TLS, timeouts, streaming.
        .target(
            name: "HTTP",
            dependencies: ["CCurl"],
            exclude: ["README.md"],
            swiftSettings: strict
        ),

        // The audit log: SQLite (GRDB over the system library), append-only hash-chained events.
        .target(
            name: "AuditStore",
            dependencies: [
                "BatonCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["README.md"],
            swiftSettings: strict
        ),

        // SSH keys, SSHSIG signatures (verified with swift-crypto; signed by ssh-keygen) and
        // git's allowed_signers format.
        .target(
            name: "Signatures",
            dependencies: [
                "BatonCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            exclude: ["README.md"],
            swiftSettings: strict
        ),

        // MARK: Layer 3 — talking to clusters

        // kubeconfig, credentials and the Kubernetes API client over HTTP.
        .target(
            name: "Kube",
            dependencies: ["BatonCore", "HTTP", .product(name: "Yams", package: "Yams")],
            exclude: ["README.md"],
            swiftSettings: strict
        ),

        // Rendering an environment's manifests at a revision (plain YAML or Kustomize) and
        // making them ready to apply (namespace, ownership labels, revision annotation).
        .target(
            name: "Manifests",
            dependencies: ["BatonCore", "GitStore", .product(name: "Yams", package: "Yams")],
            exclude: ["README.md"],
            swiftSettings: strict
        ),

        // MARK: Layer 4 — making clusters match, and judging them

        // Render, diff, apply in order, prune, health, status report for one environment.
        .target(
            name: "Reconciler",
            dependencies: ["BatonCore", "GitStore", "Kube", "Manifests", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["README.md"],
            swiftSettings: strict
        ),

        // Health, HTTP and Prometheus gates, and deploy windows.
        .target(
            name: "Gates",
            dependencies: ["BatonCore", "HTTP"],
            exclude: ["README.md"],
            swiftSettings: strict
        ),

        // MARK: Layer 5 — orchestration and the simulator

        // The promotion state machine (pure), the pipeline driver of `baton run` that carries out
        // its effects, the decisions inbox, and the environment refs.
        .target(
            name: "Coordinator",
            dependencies: ["BatonCore", "AuditStore", "GitStore", "Gates", "Reconciler", "Signatures", .product(name: "Logging", package: "swift-log")],
            exclude: ["README.md"],
            swiftSettings: strict
        ),

        // A local Kubernetes-API-compatible server with simulated controllers, for trying Baton
        // and for tests. Never imports Kube: the two sides of the protocol stay independent.
        .target(
            name: "KubeSim",
            dependencies: [
                "BatonCore",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["README.md"],
            swiftSettings: strict
        ),

        // MARK: Layer 6 — the commands

        // One file per `baton` subcommand: parse flags, call the modules, print.
        .target(
            name: "BatonCLI",
            dependencies: [
                "AuditStore",
                "BatonCore",
                "Coordinator",
                "Gates",
                "GitStore",
                "HTTP",
                "Kube",
                "Manifests",
                "Reconciler",
                "KubeSim",
                "Signatures",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["README.md"],
            swiftSettings: strict
        ),

        // MARK: Layer 7 — the executable (entry point only)

        .executableTarget(
            name: "baton",
            dependencies: ["BatonCLI"],
            exclude: ["README.md"],
            swiftSettings: strict
        ),

        // MARK: Benchmarks (`make bench`; never run by `make test`)

        .executableTarget(
            name: "baton-bench",
            dependencies: ["AuditStore", "BatonCore", "GitStore", "Kube", "KubeSim", "Manifests", "Reconciler", "Signatures"],
            path: "Benchmarks/baton-bench",
            swiftSettings: strict
        ),

        // MARK: Tests

        // Temp directories and other fixtures shared by the test targets; never shipped.
        .target(
            name: "BatonTestSupport",
            dependencies: ["Spawn"],
            exclude: ["README.md"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BatonCoreTests",
            dependencies: ["BatonCore", "BatonTestSupport", "Spawn"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "GitStoreTests",
            dependencies: ["GitStore", "BatonTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BatonCLITests",
            dependencies: ["AuditStore", "BatonCLI", "BatonCore", "Coordinator", "KubeSim", "BatonTestSupport", "Spawn", "baton",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "HTTPTests",
            dependencies: ["HTTP", "BatonTestSupport", "Spawn"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SignaturesTests",
            dependencies: ["Signatures", "BatonCore", "BatonTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "AuditStoreTests",
            dependencies: ["AuditStore", "BatonCore", "BatonTestSupport", "baton"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "GatesTests",
            dependencies: ["Gates", "BatonCore", "HTTP", "KubeSim", "BatonTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CoordinatorTests",
            dependencies: ["Coordinator", "AuditStore", "BatonCore", "Gates", "GitStore", "BatonTestSupport",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KubeTests",
            dependencies: ["Kube", "HTTP", "KubeSim", "BatonTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ReconcilerTests",
            dependencies: ["Reconciler", "Manifests", "Kube", "KubeSim", "GitStore", "BatonCore", "AuditStore", "HTTP", "BatonTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KubeSimTests",
            dependencies: ["KubeSim", "BatonTestSupport"],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
