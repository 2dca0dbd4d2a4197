import BatonCore
import HTTP

/// A gate header that could not be read when the gate ran ("header NAME: why").
struct UnreadableHeader: Error, CustomStringConvertible {
    var description: String
}

extension [HTTPHeader] {
    /// The headers to send now, values from the environment or a file read at this moment (a
    /// gate whose credential cannot be read fails closed: it does not pass).
    func fields() throws(UnreadableHeader) -> [HTTPField] {
        var fields: [HTTPField] = []
        for header in self {
            do {
                fields.append(HTTPField(header.name, try header.resolved()))
            } catch {
                throw UnreadableHeader(description: "header \(header.name): \(error)")
            }
        }
        return fields
    }
}
