import Crypto
import Foundation
import SwiftASN1
import X509

/// The CA and serving certificate a KubeSim server generates for itself, in PEM.
public struct SimCertificates: Sendable {
    public var caPEM: String
    public var certificatePEM: String
    public var privateKeyPEM: String

    /// A fresh CA (valid a year) and a certificate it signs for `localhost` and 127.0.0.1.
    public static func generate(now: Date = Date()) throws -> SimCertificates {
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("kubesim-ca") }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3_600), notValidAfter: now.addingTimeInterval(365 * 86_400),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            },
            issuerPrivateKey: .init(caKey))
        let key = P256.Signing.PrivateKey()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3_600), notValidAfter: now.addingTimeInterval(365 * 86_400),
            issuer: caName, subject: try DistinguishedName { CommonName("kubesim") }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
            },
            issuerPrivateKey: .init(caKey))
        return SimCertificates(caPEM: try ca.serializeAsPEM().pemString,
                               certificatePEM: try certificate.serializeAsPEM().pemString,
                               privateKeyPEM: key.pemRepresentation)
    }
}
