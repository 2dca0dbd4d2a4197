/// A label selector as `kubectl -l` and `?labelSelector=` write it: `app=web,tier!=db`,
/// `env in (dev,staging)`, `env notin (prod)`, `app` (exists), `!app` (does not exist).
struct LabelSelector: Sendable, Equatable {
    enum Requirement: Sendable, Equatable {
        case equals(String, String)
        case notEquals(String, String)
        case isIn(String, [String])
        case notIn(String, [String])
        case exists(String)
        case doesNotExist(String)
    }

    var requirements: [Requirement]

    static let everything = LabelSelector(requirements: [])

    /// Parses `text`; throws a message for malformed selectors.
    init(parsing text: String) throws(SelectorError) {
        requirements = []
        for part in Self.split(text) {
            let item = part.trimmingCharacters(in: .whitespaces)
            if item.isEmpty { continue }
            requirements.append(try Self.requirement(item))
        }
    }

    init(requirements: [Requirement]) {
        self.requirements = requirements
    }

    func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let key, let value): labels[key] == value
            case .notEquals(let key, let value): labels[key] != value
            case .isIn(let key, let values): labels[key].map(values.contains) ?? false
            case .notIn(let key, let values): !(labels[key].map(values.contains) ?? false)
            case .exists(let key): labels[key] != nil
            case .doesNotExist(let key): labels[key] == nil
            }
        }
    }

    /// Splits at commas that are not inside parentheses.
    private static func split(_ text: String) -> [String] {
        var parts: [String] = [], current = "", depth = 0
        for c in text {
            if c == "(" { depth += 1 }
            if c == ")" { depth -= 1 }
            if c == "," && depth == 0 {
                parts.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        parts.append(current)
        return parts
    }

    private static func requirement(_ item: String) throws(SelectorError) -> Requirement {
        let words = item.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        if words.count >= 2, words[1] == "in" || words[1] == "notin" {
            let rest = words.dropFirst(2).joined(separator: " ").trimmingCharacters(in: .whitespaces)
            guard rest.hasPrefix("("), rest.hasSuffix(")") else { throw SelectorError("expected a list in parentheses in \"\(item)\"") }
            let values = rest.dropFirst().dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            try check(key: words[0])
            return words[1] == "in" ? .isIn(words[0], values) : .notIn(words[0], values)
        }
        for (op, make) in [("!=", Requirement.notEquals), ("==", Requirement.equals), ("=", Requirement.equals)] {
            if let range = item.range(of: op) {
                let key = item[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
                let value = item[range.upperBound...].trimmingCharacters(in: .whitespaces)
                try check(key: key)
                return make(key, value)
            }
        }
        if item.hasPrefix("!") {
            let key = String(item.dropFirst()).trimmingCharacters(in: .whitespaces)
            try check(key: key)
            return .doesNotExist(key)
        }
        try check(key: item)
        return .exists(item)
    }

    private static func check(key: String) throws(SelectorError) {
        guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || "-_./".contains($0) }) else {
            throw SelectorError("invalid label key \"\(key)\"")
        }
    }
}

/// A field selector: `metadata.name=web`, `metadata.namespace!=kube-system`.
struct FieldSelector: Sendable {
    var requirements: [(field: String, value: String, equal: Bool)] = []

    init(parsing text: String) throws(SelectorError) {
        for part in text.split(separator: ",") {
            let item = String(part)
            let equal = !item.contains("!=")
            let pieces = item.components(separatedBy: equal ? (item.contains("==") ? "==" : "=") : "!=")
            guard pieces.count == 2 else { throw SelectorError("invalid field selector \"\(item)\"") }
            let field = pieces[0].trimmingCharacters(in: .whitespaces)
            guard ["metadata.name", "metadata.namespace"].contains(field) else {
                throw SelectorError("\"\(field)\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"")
            }
            requirements.append((field, pieces[1].trimmingCharacters(in: .whitespaces), equal))
        }
    }

    func matches(name: String, namespace: String) -> Bool {
        requirements.allSatisfy { requirement in
            let actual = requirement.field == "metadata.name" ? name : namespace
            return (actual == requirement.value) == requirement.equal
        }
    }
}

struct SelectorError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

import Foundation
