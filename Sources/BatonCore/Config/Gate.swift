import Foundation
/// A check a revision must pass before it may leave a stage.
public enum Gate: Sendable, Hashable, Codable {
    case health(HealthGate)
    case http(HTTPGate)
    case prometheus(PrometheusGate)

    /// The gate's key in the file: `health`, `http` or `prometheus`.
    public var kind: String {
        switch self {
        case .health: "health"
        case .http: "http"
        case .prometheus: "prometheus"
        }
    }

    private enum CodingKeys: String, CodingKey {
        case health, http, prometheus
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let gate = try container.decodeIfPresent(HealthGate.self, forKey: .health) {
            self = .health(gate)
        } else if let gate = try container.decodeIfPresent(HTTPGate.self, forKey: .http) {
            self = .http(gate)
        } else if let gate = try container.decodeIfPresent(PrometheusGate.self, forKey: .prometheus) {
            self = .prometheus(gate)
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "expected health, http or prometheus"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .health(let gate): try container.encode(gate, forKey: .health)
        case .http(let gate): try container.encode(gate, forKey: .http)
        case .prometheus(let gate): try container.encode(gate, forKey: .prometheus)
        }
    }
}

/// The environment synced at the revision and continuously Healthy for `soak`.
public struct HealthGate: Sendable, Hashable, Codable {
    /// How long health must hold without a drop; 0s passes at the first Healthy report.
    public var soak: TimeSpan

    public init(soak: TimeSpan = .seconds(0)) {
        self.soak = soak
    }
}

/// An HTTP request whose answer must match.
public struct HTTPGate: Sendable, Hashable, Codable {
    public var url: String
    public var method: String
    public var headers: [HTTPHeader]
    /// Status codes that pass; empty means any 2xx.
    public var expectStatus: [Int]
    /// Text the body must contain.
    public var bodyContains: String?
    /// Limit for one attempt.
    public var timeout: TimeSpan
    /// Attempts before the gate fails; it passes at the first attempt that matches.
    public var attempts: Int
    /// Wait between attempts.
    public var interval: TimeSpan
    /// A condition on the body parsed as JSON.
    public var json: JSONCondition?
    /// The authority trusted for an `https` URL instead of the system's (an absolute path).
    public var caFile: String?

    public init(url: String, method: String = "GET", headers: [HTTPHeader] = [], expectStatus: [Int] = [],
                bodyContains: String? = nil, timeout: TimeSpan = .seconds(10), attempts: Int = 1,
                interval: TimeSpan = .seconds(5), json: JSONCondition? = nil, caFile: String? = nil) {
        self.json = json
        self.caFile = caFile
        self.url = url
        self.method = method
        self.headers = headers
        self.expectStatus = expectStatus
        self.bodyContains = bodyContains
        self.timeout = timeout
        self.attempts = attempts
        self.interval = interval
    }

    /// Whether `status` is one the gate accepts.
    public func accepts(status: Int) -> Bool {
        expectStatus.isEmpty ? (200...299).contains(status) : expectStatus.contains(status)
    }
}

/// `json: {pointer: /status, equals: ok}`: the value at a JSON pointer (RFC 6901) of the body
/// must equal `equals`, compared as the JSON type found there (a number numerically, `true`,
/// `false` and `null` by name, a string as text).
public struct JSONCondition: Sendable, Hashable, Codable {
    public var pointer: String
    public var equals: String

    public init(pointer: String, equals: String) {
        self.pointer = pointer
        self.equals = equals
    }
}

/// Where a secret value is read when it is needed, so that it never sits in git or in the
/// configuration: an environment variable of the coordinator, or a file (trailing newline
/// dropped).
public enum SecretSource: Sendable, Hashable, Codable, CustomStringConvertible {
    case env(String)
    case file(String)

    /// The value now; the error names the variable or file, never a value.
    public func read() throws(SecretError) -> String {
        switch self {
        case .env(let name):
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                throw SecretError(message: "environment variable \(name) is not set")
            }
            return value
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw SecretError(message: "cannot read \(path)")
            }
            var value = text
            while value.hasSuffix("\n") || value.hasSuffix("\r") { value.removeLast() }
            guard !value.isEmpty else { throw SecretError(message: "\(path) is empty") }
            return value
        }
    }

    public var description: String {
        switch self {
        case .env(let name): "from environment variable \(name)"
        case .file(let path): "from file \(path)"
        }
    }
}

public struct SecretError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// One request header of an HTTP gate: a literal value, or one read when the gate runs
/// (`valueFrom`). Encoding (JSON output) hides the value of headers that carry credentials
/// and says where a read one comes from.
public struct HTTPHeader: Sendable, Hashable, Codable {
    public var name: String
    public var value: String
    /// Set when the value is read when the gate runs; `value` is then empty.
    public var valueFrom: SecretSource?

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    public init(name: String, valueFrom: SecretSource) {
        self.name = name
        self.value = ""
        self.valueFrom = valueFrom
    }

    /// The value to send now.
    public func resolved() throws(SecretError) -> String {
        guard let valueFrom else { return value }
        return try valueFrom.read()
    }

    /// Whether the header likely carries a credential (`Authorization`, a token, a key).
    public var isSensitive: Bool {
        let lower = name.lowercased()
        return ["authorization", "proxy-authorization", "cookie"].contains(lower)
            || ["token", "secret", "key", "password", "auth"].contains { lower.contains($0) }
    }

    private enum CodingKeys: String, CodingKey { case name, value, valueFrom }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        if let valueFrom {
            try container.encode("<\(valueFrom)>", forKey: .value)
        } else {
            try container.encode(isSensitive ? "<redacted>" : value, forKey: .value)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        value = try container.decode(String.self, forKey: .value)
        valueFrom = try container.decodeIfPresent(SecretSource.self, forKey: .valueFrom)
    }
}

/// An instant Prometheus query measured `count` times, `interval` apart; each measurement
/// passes when its value lies within `min`...`max`.
public struct PrometheusGate: Sendable, Hashable, Codable {
    /// The Prometheus server, such as `http://prometheus:9090`.
    public var url: String
    public var query: String
    /// Sent with every query (`Authorization` for a Prometheus behind a proxy or a hosted one),
    /// literal or read when the gate runs (`valueFrom`).
    public var headers: [HTTPHeader] = []
    public var min: Double?
    public var max: Double?
    public var interval: TimeSpan
    public var count: Int
    /// How many failed measurements are tolerated; one more fails the gate.
    public var failureLimit: Int

    public init(url: String, query: String, headers: [HTTPHeader] = [], min: Double? = nil, max: Double? = nil,
                interval: TimeSpan = .seconds(30), count: Int = 1, failureLimit: Int = 0) {
        self.url = url
        self.query = query
        self.headers = headers
        self.min = min
        self.max = max
        self.interval = interval
        self.count = count
        self.failureLimit = failureLimit
    }

    private enum CodingKeys: String, CodingKey { case url, query, headers, min, max, interval, count, failureLimit }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(url: try container.decode(String.self, forKey: .url), query: try container.decode(String.self, forKey: .query),
                  headers: try container.decodeIfPresent([HTTPHeader].self, forKey: .headers) ?? [],
                  min: try container.decodeIfPresent(Double.self, forKey: .min), max: try container.decodeIfPresent(Double.self, forKey: .max),
                  interval: try container.decode(TimeSpan.self, forKey: .interval), count: try container.decode(Int.self, forKey: .count),
                  failureLimit: try container.decode(Int.self, forKey: .failureLimit))
    }
}
