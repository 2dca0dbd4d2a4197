import BatonCore

/// RFC 7386 merge patches and RFC 6902 JSON patches.
enum JSONPatch {
    static func mergePatch(_ patch: JSONValue, into target: JSONValue) -> JSONValue {
        guard case .object(let patchObject) = patch else { return patch }
        var result = target.object ?? [:]
        for (key, value) in patchObject {
            if value == .null {
                result[key] = nil
            } else {
                result[key] = mergePatch(value, into: result[key] ?? .null)
            }
        }
        return .object(result)
    }

    struct PatchError: Error, CustomStringConvertible {
        var description: String
    }

    static func apply(_ patch: JSONValue, to target: JSONValue) throws -> JSONValue {
        guard let operations = patch.array else { throw PatchError(description: "a JSON patch must be a list of operations") }
        var document = target
        for operation in operations {
            guard let op = operation["op"]?.string, let path = operation["path"]?.string else {
                throw PatchError(description: "each operation needs \"op\" and \"path\"")
            }
            let pointer = try parse(path)
            switch op {
            case "add": document = try set(document, pointer[...], operation["value"] ?? .null, insert: true)
            case "replace":
                guard value(document, pointer) != nil else { throw PatchError(description: "replace: \(path) does not exist") }
                document = try set(document, pointer[...], operation["value"] ?? .null, insert: false)
            case "remove":
                guard value(document, pointer) != nil else { throw PatchError(description: "remove: \(path) does not exist") }
                document = try remove(document, pointer[...])
            case "test":
                guard value(document, pointer) == operation["value"] else { throw PatchError(description: "test failed at \(path)") }
            case "copy", "move":
                guard let from = operation["from"]?.string, let source = value(document, try parse(from)) else {
                    throw PatchError(description: "\(op): \"from\" does not exist")
                }
                if op == "move" { document = try remove(document, try parse(from)[...]) }
                document = try set(document, pointer[...], source, insert: true)
            default:
                throw PatchError(description: "unknown operation \"\(op)\"")
            }
        }
        return document
    }

    static func parse(_ pointer: String) throws -> [String] {
        if pointer.isEmpty { return [] }
        guard pointer.hasPrefix("/") else { throw PatchError(description: "\"\(pointer)\" is not a JSON pointer") }
        return pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    static func value(_ document: JSONValue, _ pointer: [String]) -> JSONValue? {
        var current: JSONValue? = document
        for token in pointer {
            switch current {
            case .object(let object)?: current = object[token]
            case .array(let array)?: current = Int(token).flatMap { array.indices.contains($0) ? array[$0] : nil }
            default: return nil
            }
        }
        return current
    }

    static func set(_ document: JSONValue, _ pointer: ArraySlice<String>, _ newValue: JSONValue, insert: Bool) throws -> JSONValue {
        guard let token = pointer.first else { return newValue }
        switch document {
        case .object(var object):
            if pointer.count == 1 {
                object[token] = newValue
            } else {
                guard let child = object[token] else { throw PatchError(description: "missing parent for \"\(token)\"") }
                object[token] = try set(child, pointer.dropFirst(), newValue, insert: insert)
            }
            return .object(object)
        case .array(var array):
            if pointer.count == 1 {
                if token == "-" && insert { array.append(newValue); return .array(array) }
                guard let index = Int(token), index >= 0, index <= array.count, insert || index < array.count else {
                    throw PatchError(description: "bad array index \"\(token)\"")
                }
                if insert { array.insert(newValue, at: index) } else { array[index] = newValue }
            } else {
                guard let index = Int(token), array.indices.contains(index) else { throw PatchError(description: "bad array index \"\(token)\"") }
                array[index] = try set(array[index], pointer.dropFirst(), newValue, insert: insert)
            }
            return .array(array)
        default:
            throw PatchError(description: "cannot descend into a scalar at \"\(token)\"")
        }
    }

    static func remove(_ document: JSONValue, _ pointer: ArraySlice<String>) throws -> JSONValue {
        guard let token = pointer.first else { return .null }
        switch document {
        case .object(var object):
            if pointer.count == 1 { object[token] = nil } else if let child = object[token] {
                object[token] = try remove(child, pointer.dropFirst())
            }
            return .object(object)
        case .array(var array):
            guard let index = Int(token), array.indices.contains(index) else { throw PatchError(description: "bad array index \"\(token)\"") }
            if pointer.count == 1 { array.remove(at: index) } else { array[index] = try remove(array[index], pointer.dropFirst()) }
            return .array(array)
        default:
            throw PatchError(description: "cannot descend into a scalar at \"\(token)\"")
        }
    }
}
