import Foundation

/// What decoding one file needs besides its document: where issues go, the name the file
/// gives its object, and the process environment and folder that paths are resolved with.
struct LoadContext {
    let log: IssueLog
    /// The file's name without its extension: the object's name must equal it.
    let fileStem: String
    let variables: [String: String]
    /// The folder the configuration was loaded from; relative paths resolve against it.
    let baseDirectory: String

    /// Checks `apiVersion`, `kind` and `name`, and returns the name when it is valid.
    func header(_ fields: MappingReader, kind expected: String, folder: String) -> String? {
        if let version = fields.required("apiVersion"), let text = version.string(), text != "baton/v1" {
            version.fail("expected \"baton/v1\", got \(ValueReader.quote(text))")
        }
        if let kind = fields.required("kind"), let text = kind.string(), text != expected {
            kind.fail("expected \(ValueReader.quote(expected)) (a file in \(folder)/), got \(ValueReader.quote(text))")
        }
        guard let value = fields.required("name"), let name = value.string() else { return nil }
        guard Names.isDNSLabel(name) else {
            value.fail("\(ValueReader.quote(name)) is not a valid name: use 1 to 63 lowercase letters, digits and \"-\", starting and ending with a letter or digit")
            return nil
        }
        guard name == fileStem else {
            value.fail("\(ValueReader.quote(name)) does not match the file name; name the file \(name).yaml or the object \(ValueReader.quote(fileStem))")
            return nil
        }
        return name
    }

    /// Expands `~`, `$VAR` and `${VAR}` in `raw`, splits it at `:` as `KUBECONFIG` lists
    /// files, and makes each path absolute. Logs at `value` and returns nil on an unset variable.
    func paths(_ raw: String, at value: ValueReader) -> [String]? {
        var expanded = ""
        var rest = Substring(raw)
        while let dollar = rest.firstIndex(of: "$") {
            expanded += rest[..<dollar]
            rest = rest[rest.index(after: dollar)...]
            let name: Substring
            if rest.first == "{" {
                guard let close = rest.firstIndex(of: "}") else {
                    value.fail("unclosed \"${\" in \(ValueReader.quote(raw))")
                    return nil
                }
                name = rest[rest.index(after: rest.startIndex)..<close]
                rest = rest[rest.index(after: close)...]
            } else {
                name = rest.prefix { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
                rest = rest.dropFirst(name.count)
            }
            guard !name.isEmpty else {
                value.fail("\"$\" must be followed by a variable name in \(ValueReader.quote(raw))")
                return nil
            }
            guard let variable = variables[String(name)] else {
                value.fail("environment variable \(name) is not set")
                return nil
            }
            expanded += variable
        }
        expanded += rest
        let list = expanded.split(separator: ":").map { absolute(String($0)) }
        guard !list.isEmpty else {
            value.fail("names no file")
            return nil
        }
        return list
    }

    /// `~` expanded and a relative path joined to the base folder.
    func absolute(_ path: String) -> String {
        var path = path
        if path == "~" || path.hasPrefix("~/") {
            path = home + path.dropFirst()
        }
        if !path.hasPrefix("/") {
            path = baseDirectory + "/" + path
        }
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }

    var home: String {
        variables["HOME"] ?? NSHomeDirectory()
    }

    /// The kubeconfig files kubectl would use: `$KUBECONFIG`, else `~/.kube/config`.
    var defaultKubeconfig: [String] {
        if let list = variables["KUBECONFIG"], !list.isEmpty {
            let paths = list.split(separator: ":").map { absolute(String($0)) }
            if !paths.isEmpty { return paths }
        }
        return [home + "/.kube/config"]
    }

    /// Why `text` is not a URL with one of `schemes` and a host, or nil when it is one.
    /// A URL carrying a password is refused: credentials never belong in these files.
    static func urlProblem(_ text: String, schemes: [String]) -> String? {
        let list = schemes.joined(separator: " or ")
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased() else {
            return "expected a URL such as \"\(schemes[0])://host/path\", got \(ValueReader.quote(text))"
        }
        guard schemes.contains(scheme) else {
            return "the URL scheme must be \(list), got \(ValueReader.quote(scheme))"
        }
        if scheme != "file", url.host?.isEmpty ?? true {
            return "the URL \(ValueReader.quote(text)) has no host"
        }
        if url.password != nil {
            return "the URL must not carry a password; give credentials to Baton outside the configuration"
        }
        return nil
    }
}
