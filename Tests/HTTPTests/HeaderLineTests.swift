import Foundation
@testable import HTTP
import Testing

/// How one response header line, as libcurl hands it over, becomes a header.
@Suite("HTTP: response header lines")
struct HeaderLineTests {
    @Test("a line is split at its first colon, name and value trimmed of spaces, tabs, CR and LF; a status line starts the headers over")
    func lines() {
        let transfer = Transfer(request: HTTPRequest(url: "http://127.0.0.1:1/"), delivery: .buffered { _ in })
        func feed(_ line: String) { Array(line.utf8).withUnsafeBytes { transfer.receivedHeader($0) } }
        feed("HTTP/1.1 100 Continue\r\n")
        feed("X-Interim: 1\r\n")
        feed("\r\n")
        feed("HTTP/1.1 200 OK\r\n")
        feed("Content-Type:application/json\r\n")
        feed("Retry-After: \t 5 \r\n")
        feed("Location: https://host:6443/api?watch=1&x=a:b\r\n")
        feed("  X-Padded  :  v  \r\n")
        feed("X-Empty:\r\n")
        feed("not a header\r\n")
        feed("X-Text: é ünïcode\r\n")
        feed("\r\n")
        #expect(transfer.headers == [HTTPField("Content-Type", "application/json"), HTTPField("Retry-After", "5"),
                                     HTTPField("Location", "https://host:6443/api?watch=1&x=a:b"), HTTPField("X-Padded", "v"),
                                     HTTPField("X-Empty", ""), HTTPField("X-Text", "é ünïcode")])
        #expect(HTTPHeaders(transfer.headers)["retry-after"] == "5")
    }
}
