/// Rules for the names Baton's files use: environment and pipeline names (which become label
/// values and git ref names), Kubernetes namespaces, git refs.
public enum Names {
    /// A DNS-1123 label: 1 to 63 lowercase letters, digits and `-`, starting and ending
    /// with a letter or digit. Environment, pipeline and namespace names are such labels.
    public static func isDNSLabel(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        func alphanumeric(_ b: UInt8) -> Bool { (0x61...0x7A).contains(b) || (0x30...0x39).contains(b) }
        return alphanumeric(bytes.first!) && alphanumeric(bytes.last!)
            && bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    /// Why `name` is not a valid git ref name (the rules of `git check-ref-format`), or nil.
    public static func refNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name == "@" { return "must not be \"@\"" }
        for scalar in name.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F || " ~^:?*[\\".unicodeScalars.contains(scalar) {
                return "must not contain spaces, control characters or any of ~ ^ : ? * [ \\"
            }
        }
        if name.contains("..") { return "must not contain \"..\"" }
        if name.contains("@{") { return "must not contain \"@{\"" }
        if name.hasPrefix("/") || name.hasSuffix("/") || name.contains("//") {
            return "must not start or end with \"/\" or contain \"//\""
        }
        if name.hasSuffix(".") { return "must not end with \".\"" }
        for component in name.split(separator: "/") {
            if component.hasPrefix(".") { return "no part may start with \".\"" }
            if component.hasSuffix(".lock") { return "no part may end with \".lock\"" }
        }
        return nil
    }
}
