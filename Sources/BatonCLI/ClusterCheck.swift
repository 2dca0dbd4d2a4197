import ArgumentParser
import BatonCore
import Foundation
import Kube

/// `baton cluster`: what Baton sees of an environment's cluster.
struct Cluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Look at the cluster of an environment.",
        subcommands: [Check.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Check that Baton can reach, authenticate to and deploy into an environment's cluster.",
            discussion: """
                Prints the server URL, its version, the identity used (the kind of credential, never the \
                secret), whether discovery works, and whether Baton may apply and delete in the \
                environment's namespace (asked with SelfSubjectAccessReview where the server has it). \
                Exits 0 when all is well, 1 with the reason when not, 2 when ENV is not an environment.
                """
        )

        @Argument(help: "The environment's name.")
        var environment: String

        @Option(name: .long, help: "The folder holding Environments/ and Pipelines/.")
        var dir: String = "."

        /// The kinds whose permissions are checked: what an application's manifests hold most.
        static let probes: [(group: String, resource: String)] = [("apps", "deployments"), ("", "services"), ("", "configmaps")]

        func run() async throws {
            let (_, target) = try EnvironmentSession.load(dir: dir, environment: environment)
            let report = CheckReport()
            let passed = await check(target, report: report)
            Terminal.out(report.text)
            if !passed {
                Terminal.error("baton: cluster check for \(environment) failed: \(report.failure ?? "see above")")
                throw ExitCode(1)
            }
        }

        /// Fills `report` line by line; false at the first thing that stops Baton.
        private func check(_ target: EnvironmentConfig, report: CheckReport) async -> Bool {
            report.line("environment", "\(target.name) (\(target.file))")
            let resolved: Kubeconfig.Resolved
            do {
                resolved = try Kubeconfig.load(paths: target.cluster.kubeconfig).resolve(context: target.cluster.context)
            } catch {
                return report.fail("kubeconfig", "\(error)")
            }
            report.line("kubeconfig", "\(target.cluster.kubeconfig.joined(separator: ":")), context \(resolved.contextName)")
            report.line("server", resolved.cluster.server)
            let client: KubeClient
            do {
                client = try KubeClient(resolved, retry: RetryPolicy(maxAttempts: 3, maxElapsed: .seconds(10)))
            } catch {
                return report.fail("server", "\(error)")
            }
            report.line("identity", client.identity.description)
            do {
                let version = try await client.version()
                report.line("version", "\(version.gitVersion) (\(version.platform))")
            } catch {
                return report.fail("version", "\(error)")
            }
            do {
                let resources = try await client.discover()
                let groupVersions = Set(resources.map(\.apiVersion)).count
                let kind = await client.usedAggregatedDiscovery ? "aggregated" : "classic"
                report.line("discovery", "ok: \(resources.count) kinds in \(groupVersions) group versions (\(kind))")
            } catch {
                return report.fail("discovery", "\(error)")
            }
            let namespace = target.namespace ?? client.defaultNamespace
            do {
                _ = try await client.get(apiVersion: "v1", kind: "Namespace", name: namespace)
                report.line("namespace", "\(namespace) (exists)")
            } catch where error.isNotFound {
                report.line("namespace", "\(namespace) (does not exist yet)")
            } catch where error.statusCode == 403 {
                report.line("namespace", "\(namespace) (may not read it)")
            } catch {
                return report.fail("namespace", "\(error)")
            }
            var denied: [String] = []
            for (action, verbs) in [("apply", ["create", "patch"]), ("delete", ["delete"])] {
                var refused: [String] = []
                for verb in verbs {
                    for probe in Self.probes {
                        let review: (allowed: Bool, reason: String)?
                        do {
                            review = try await client.canI(verb, group: probe.group, resource: probe.resource, namespace: namespace)
                        } catch {
                            return report.fail("may \(action)", "\(error)")
                        }
                        guard let review else {
                            report.line("may \(action)", "not checked (the server has no SelfSubjectAccessReview)")
                            return true
                        }
                        if !review.allowed { refused.append("\(verb) \(probe.group.isEmpty ? probe.resource : "\(probe.resource).\(probe.group)")") }
                    }
                }
                if refused.isEmpty {
                    report.line("may \(action)", "yes, in \(namespace)")
                } else {
                    report.line("may \(action)", "no, in \(namespace): may not \(refused.joined(separator: ", "))")
                    denied += refused
                }
            }
            if !denied.isEmpty {
                report.failure = "the identity may not \(denied.joined(separator: ", ")) in namespace \(namespace)"
                return false
            }
            return true
        }
    }
}

/// The lines `baton cluster check` prints, label and value.
final class CheckReport {
    private var lines: [(String, String)] = []
    var failure: String?

    func line(_ label: String, _ value: String) { lines.append((label, value)) }

    /// Records a failing step; returns false for `return report.fail(...)`.
    func fail(_ label: String, _ reason: String) -> Bool {
        lines.append((label, "FAILED: \(reason)"))
        failure = reason
        return false
    }

    var text: String {
        let width = (lines.map(\.0.count).max() ?? 0) + 2
        return lines.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + $0.1 }.joined(separator: "\n")
    }
}
