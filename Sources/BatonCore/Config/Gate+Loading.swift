import Foundation

/// Decoding the entries of a stage's `gates` list.
extension Gate {
    static let kinds = ["health", "http", "prometheus"]

    static func decode(_ value: ValueReader, _ context: LoadContext) -> Gate? {
        guard let map = value.mapping(keys: kinds) else { return nil }
        guard map.keys.count == 1, let kind = map.keys.first else {
            if map.keys.isEmpty {
                value.fail("a gate needs one of the keys \(kinds.joined(separator: ", "))")
            } else {
                value.fail("a gate has exactly one kind, found \(map.keys.joined(separator: " and ")); make each its own list entry")
            }
            return nil
        }
        guard let body = map.raw(kind) else { return nil }
        switch kind {
        case "health": return HealthGate.decode(body).map(Gate.health)
        case "http": return HTTPGate.decode(body, context).map(Gate.http)
        default: return PrometheusGate.decode(body).map(Gate.prometheus)
        }
    }
}

extension HealthGate {
    static func decode(_ value: ValueReader) -> HealthGate? {
        guard let map = value.mapping(keys: ["soak"], nullIsEmpty: true) else { return nil }
        var gate = HealthGate()
        if let soak = map.optional("soak") {
            guard let duration = soak.duration(allowZero: true) else { return nil }
            gate.soak = duration
        }
        return gate
    }
}

extension HTTPGate {
    static let keys = ["url", "method", "headers", "expectStatus", "bodyContains", "json", "caFile", "timeout", "attempts", "interval"]
    static let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    static func decode(_ value: ValueReader, _ context: LoadContext) -> HTTPGate? {
        guard let map = value.mapping(keys: keys, nullIsEmpty: true) else { return nil }
        let before = map.log.issues.count
        var gate = HTTPGate(url: "")
        if let raw = map.required("url"), let url = raw.nonEmptyString() {
            if let problem = LoadContext.urlProblem(url, schemes: ["https", "http"]) {
                raw.fail(problem)
            }
            gate.url = url
        }
        if let raw = map.optional("method"), let text = raw.string() {
            if methods.contains(text.uppercased()) {
                gate.method = text.uppercased()
            } else {
                raw.fail("expected one of \(methods.joined(separator: ", ")), got \(ValueReader.quote(text))")
            }
        }
        if let raw = map.optional("headers") { gate.headers = HTTPHeader.decodeAll(raw) }
        if let raw = map.optional("expectStatus") {
            for element in raw.oneOrMany() {
                guard let code = element.int() else { continue }
                if !(100...599).contains(code) {
                    element.fail("\(code) is not an HTTP status code (100 to 599)")
                } else if gate.expectStatus.contains(code) {
                    element.fail("\(code) is listed twice")
                } else {
                    gate.expectStatus.append(code)
                }
            }
            if case .sequence(let list) = raw.node, list.isEmpty {
                raw.fail("must list at least one status code, or be left out to accept any 2xx")
            }
        }
        gate.bodyContains = map.optional("bodyContains")?.nonEmptyString()
        if let raw = map.optional("json"), let condition = raw.mapping(keys: ["pointer", "equals"]) {
            let pointer = condition.required("pointer")
            let equals = condition.required("equals")
            if let pointer, let text = pointer.string() {
                if !text.isEmpty, !text.hasPrefix("/") {
                    pointer.fail("a JSON pointer is empty (the whole body) or starts with /, got \(ValueReader.quote(text))")
                } else if let equals, let expected = equals.scalarText() {
                    gate.json = JSONCondition(pointer: text, equals: expected)
                }
            }
        }
        if let raw = map.optional("caFile"), let path = raw.nonEmptyString() {
            gate.caFile = context.absolute(path)
            if !gate.url.hasPrefix("https://") { raw.fail("caFile applies to an https URL only") }
        }
        if let timeout = map.optional("timeout")?.duration() { gate.timeout = timeout }
        if let attempts = map.optional("attempts")?.int(atLeast: 1) { gate.attempts = attempts }
        if let interval = map.optional("interval")?.duration() { gate.interval = interval }
        return map.log.issues.count == before ? gate : nil
    }

    /// RFC 9110 token characters, which a header name consists of.
    static func isTokenCharacter(_ c: Unicode.Scalar) -> Bool {
        c.isASCII && (CharacterSet.alphanumerics.contains(c) || "!#$%&'*+-.^_`|~".unicodeScalars.contains(c))
    }
}

extension PrometheusGate {
    static let keys = ["url", "query", "headers", "min", "max", "interval", "count", "failureLimit"]

    static func decode(_ value: ValueReader) -> PrometheusGate? {
        guard let map = value.mapping(keys: keys, nullIsEmpty: true) else { return nil }
        let before = map.log.issues.count
        var gate = PrometheusGate(url: "", query: "")
        if let raw = map.required("url"), let url = raw.nonEmptyString() {
            if let problem = LoadContext.urlProblem(url, schemes: ["http", "https"]) {
                raw.fail(problem)
            }
            gate.url = url
        }
        if let query = map.required("query")?.nonEmptyString() { gate.query = query }
        if let raw = map.optional("headers") { gate.headers = HTTPHeader.decodeAll(raw) }
        let minValue = map.optional("min"), maxValue = map.optional("max")
        gate.min = minValue?.number()
        gate.max = maxValue?.number()
        if minValue == nil && maxValue == nil {
            value.fail("give min, max or both: the range a measurement must lie in")
        }
        if let low = gate.min, let high = gate.max, low > high, let minValue {
            minValue.fail("min (\(low)) is greater than max (\(high)); no value could pass")
        }
        if let interval = map.optional("interval")?.duration() { gate.interval = interval }
        if let count = map.optional("count")?.int(atLeast: 1) { gate.count = count }
        if let raw = map.optional("failureLimit"), let limit = raw.int(atLeast: 0) {
            if limit >= gate.count {
                raw.fail("must be less than count (\(gate.count)), or the gate could never fail")
            }
            gate.failureLimit = limit
        }
        return map.log.issues.count == before ? gate : nil
    }
}

extension ApprovalPolicy {
    /// The key types approvers may declare (what the Signatures module verifies).
    static let keyTypes = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"]

    static func decode(_ value: ValueReader) -> ApprovalPolicy? {
        guard let map = value.mapping(keys: ["required", "approvers", "allowCommitAuthors", "allowedSigners", "requireSignedCommits",
                                             "commitSigners"]) else { return nil }
        var policy = ApprovalPolicy()
        let required = map.optional("required")
        if let count = required?.int(atLeast: 1) { policy.required = count }
        var plain: [ValueReader] = []
        var keyed = false
        if let list = map.optional("approvers")?.list() {
            for element in list {
                let who: String?
                if case .mapping = element.node {
                    keyed = true
                    who = decodeApprover(element, into: &policy)
                } else {
                    who = element.nonEmptyString()
                    if who != nil { plain.append(element) }
                }
                guard let who else { continue }
                if policy.approvers.contains(who) {
                    element.fail("\(ValueReader.quote(who)) is listed twice")
                } else {
                    policy.approvers.append(who)
                }
            }
        }
        if let file = map.optional("allowedSigners") {
            if let path = file.nonEmptyString() {
                policy.allowedSigners = path
                policy.allowedSignersSource = "\(file.log.file):\(YAMLSource.position(of: file.node).line)"
            }
        }
        if keyed || policy.allowedSigners != nil {
            // Approvals are signed here: an approver without a key could not sign one.
            for element in plain {
                element.fail("\(ValueReader.quote(element.string() ?? "")) has no key; in a stage whose approvers have keys, each needs "
                             + "them ({email: ..., keys: [...]}) or is named in allowedSigners")
            }
        }
        if let allow = map.optional("allowCommitAuthors")?.bool() { policy.allowCommitAuthors = allow }
        let requireSigned = map.optional("requireSignedCommits")
        if let require = requireSigned?.bool() { policy.requireSignedCommits = require }
        if let file = map.optional("commitSigners") {
            if let path = file.nonEmptyString() {
                policy.commitSigners = path
                policy.commitSignersSource = "\(file.log.file):\(YAMLSource.position(of: file.node).line)"
                if !policy.requireSignedCommits {
                    file.fail("commitSigners is read only with requireSignedCommits: true")
                }
            }
        } else if policy.requireSignedCommits, let requireSigned {
            requireSigned.fail("requireSignedCommits needs commitSigners: FILE (git's allowed_signers format: who may sign commits)")
        }
        if !policy.approvers.isEmpty, policy.allowedSigners == nil, policy.required > policy.approvers.count, let required {
            let listed = policy.approvers.count == 1 ? "1 approver is" : "\(policy.approvers.count) approvers are"
            required.fail("\(policy.required) approvals are required but only \(listed) listed")
        }
        return policy
    }

    /// `{email: bob@example.com, keys: ["ssh-ed25519 AAAA… bob"]}`: the e-mail, keys added to
    /// `policy.keys`.
    private static func decodeApprover(_ element: ValueReader, into policy: inout ApprovalPolicy) -> String? {
        guard let map = element.mapping(keys: ["email", "keys"]) else { return nil }
        guard let email = map.required("email")?.nonEmptyString() else { return nil }
        guard let keys = map.required("keys")?.list() else { return nil }
        if keys.isEmpty { map.keyNode("keys").map { map.log.add($0, map.path.key("keys"), "\(ValueReader.quote(email)) needs at least one key") } }
        for key in keys {
            guard let line = key.nonEmptyString() else { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, keyTypes.contains(String(fields[0])), Data(base64Encoded: String(fields[1])) != nil else {
                key.fail("expected an SSH public key (\(keyTypes.joined(separator: ", ")) and its base64, as in a .pub file), got "
                         + ValueReader.quote(String(line.prefix(40))))
                continue
            }
            policy.keys.append(ApproverKey(email: email, key: line, source: "\(key.log.file):\(YAMLSource.position(of: key.node).line)"))
        }
        return email
    }
}

extension HTTPHeader {
    /// A gate's `headers`: a mapping of names to literal values or to
    /// `{valueFrom: {env: NAME}}` / `{valueFrom: {file: PATH}}`, read when the gate runs, so
    /// that a token never sits in git.
    static func decodeAll(_ raw: ValueReader) -> [HTTPHeader] {
        guard case .mapping(let mapping) = raw.node else {
            raw.fail("expected a mapping of header names to values, got \(ValueReader.describe(raw.node))")
            return []
        }
        var headers: [HTTPHeader] = []
        for (keyNode, valueNode) in mapping {
            let name = keyNode.scalar?.string ?? ""
            let header = ValueReader(node: valueNode, path: raw.path.key(name), log: raw.log)
            guard !name.isEmpty, name.unicodeScalars.allSatisfy(HTTPGate.isTokenCharacter) else {
                raw.log.add(keyNode, raw.path, "\(ValueReader.describe(keyNode)) is not a valid HTTP header name")
                continue
            }
            if case .mapping = valueNode {
                guard let from = header.mapping(keys: ["valueFrom"])?.required("valueFrom")?.mapping(keys: ["env", "file"]) else { continue }
                let env = from.optional("env")?.nonEmptyString(), file = from.optional("file")?.nonEmptyString()
                switch (env, file) {
                case (let env?, nil): headers.append(HTTPHeader(name: name, valueFrom: .env(env)))
                case (nil, let file?): headers.append(HTTPHeader(name: name, valueFrom: .file(file)))
                default: header.fail("valueFrom takes exactly one of env or file")
                }
                continue
            }
            guard let text = header.string() else { continue }
            if text.contains("\r") || text.contains("\n") {
                header.fail("a header value must not contain a line break")
                continue
            }
            headers.append(HTTPHeader(name: name, value: text))
        }
        return headers
    }
}
