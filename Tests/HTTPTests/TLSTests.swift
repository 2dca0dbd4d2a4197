import BatonTestSupport
import Foundation
import HTTP
import Testing

/// TLS against a real TLS server (Python's ssl module, OpenSSL underneath) that requires a
/// client certificate signed by the test CA.
@Suite("HTTP: TLS verification and client certificates")
struct TLSTests {
    let certificates: TestCertificates

    init() async throws { certificates = try await TestCertificates() }

    func server(_ name: String, requireClient: Bool = true) async throws -> TestServer {
        try await TestServer(tls: .init(certificate: certificates.file("\(name).crt"), key: certificates.file("\(name).key"),
                                  clientCA: requireClient ? certificates.file("ca.crt") : nil))
    }

    func tlsFailure(_ client: HTTPClient, _ url: String) async -> String? {
        do {
            _ = try await client.send(HTTPRequest(url: url))
            return nil
        } catch {
            guard case .tls(_, let reason) = error else { return "not a TLS error: \(error)" }
            return reason
        }
    }

    @Test("the right CA and client certificate work, as PEM data or as files")
    func rightCertificates() async throws {
        let server = try await server("server")
        defer { server.stop(); certificates.folder.remove() }
        let inline = HTTPClient(configuration: .init(tls: .init(certificateAuthority: .data(try certificates.data("ca.crt")),
                                                                 clientCertificate: .data(try certificates.data("client.crt")),
                                                                 clientKey: .data(try certificates.data("client.key")))))
        let response = try await inline.send(HTTPRequest(url: server.url + "/hello"))
        let seen = try #require(JSONSerialization.jsonObject(with: response.body) as? [String: Any])
        #expect(response.status == 200)
        #expect(seen["clientCN"] as? String == "baton-client")
        let files = HTTPClient(configuration: .init(tls: .init(certificateAuthority: .file(certificates.file("ca.crt")),
                                                                clientCertificate: .file(certificates.file("client.crt")),
                                                                clientKey: .file(certificates.file("client.key")))))
        #expect(try await files.send(HTTPRequest(url: server.url + "/hello")).status == 200)
    }

    @Test("a wrong CA, an expired server certificate and a missing client certificate each fail with a TLS error")
    func failures() async throws {
        let good = try await server("server"), expired = try await server("expired")
        defer { good.stop(); expired.stop(); certificates.folder.remove() }
        let client = try TLSConfiguration(certificateAuthority: .data(certificates.data("ca.crt")),
                                          clientCertificate: .data(certificates.data("client.crt")),
                                          clientKey: .data(certificates.data("client.key")))
        var wrongCA = client
        wrongCA.certificateAuthority = .data(try certificates.data("other-ca.crt"))
        let wrong = await tlsFailure(HTTPClient(configuration: .init(tls: wrongCA)), good.url)
        #expect(wrong?.contains("certificate") == true, "wrong CA: \(wrong ?? "succeeded")")

        let stale = await tlsFailure(HTTPClient(configuration: .init(tls: client)), expired.url)
        #expect(stale?.contains("expired") == true, "expired server certificate: \(stale ?? "succeeded")")

        var anonymous = client
        anonymous.clientCertificate = nil
        anonymous.clientKey = nil
        let missing = await tlsFailure(HTTPClient(configuration: .init(tls: anonymous)), good.url)
        #expect(missing != nil && missing?.hasPrefix("not a TLS error") == false, "missing client certificate: \(missing ?? "succeeded")")
    }

    @Test("insecure-skip-tls-verify accepts the expired certificate; the system store does not know the test CA")
    func insecureAndDefaultStore() async throws {
        let expired = try await server("expired", requireClient: false)
        defer { expired.stop(); certificates.folder.remove() }
        let insecure = HTTPClient(configuration: .init(tls: .init(insecureSkipVerify: true)))
        #expect(try await insecure.send(HTTPRequest(url: expired.url)).status == 200)
        let system = await tlsFailure(HTTPClient(), expired.url)
        #expect(system != nil && system?.hasPrefix("not a TLS error") == false)
    }

    @Test("a TLS server name verifies the certificate against that name while connecting to the URL's address")
    func serverName() async throws {
        let named = try await server("named", requireClient: false)
        defer { named.stop(); certificates.folder.remove() }
        var tls = TLSConfiguration(certificateAuthority: .data(try certificates.data("ca.crt")))
        let mismatch = await tlsFailure(HTTPClient(configuration: .init(tls: tls)), named.url)
        #expect(mismatch != nil && mismatch?.hasPrefix("not a TLS error") == false, "name mismatch: \(mismatch ?? "succeeded")")
        tls.serverName = "kube.internal.test"
        #expect(try await HTTPClient(configuration: .init(tls: tls)).send(HTTPRequest(url: named.url + "/n")).status == 200)
    }
}
