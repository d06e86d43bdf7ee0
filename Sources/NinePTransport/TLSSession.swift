import Foundation
import Logging
import NIOCore
import NIOSSL
import NIOTLS
import NinePWire
import SwiftASN1
import Synchronization
import X509

/// TLS for `tls!` addresses: the contexts made from `NinePTLSClientSettings`
/// and `NinePTLSServerSettings`, and the handlers put in front of the 9P
/// framing. TLS 1.3 only; each side checks the other with `TLSPeerCheck`
/// instead of BoringSSL's own verifier, so that a refusal says what was
/// seen and what was expected.
///
/// A client refuses a server by failing the handshake: the dial fails with
/// the reason. A server with `--client-ca` refuses a client certificate
/// (or its absence) in 9P instead: the handshake completes, the refusal is
/// logged, and the client's first message is answered with an Rerror
/// holding the reason before the connection is closed (`TLSRefusalGate`);
/// nothing reaches the server's handlers. In TLS 1.3 the client finishes
/// its handshake before the server has judged its certificate, so an alert
/// could only reach it after its first request, racing the close; the
/// Rerror tells it exactly why, every time.
enum TLSSession {
    /// Everything a dial needs, read from the settings' files.
    struct Client: Sendable {
        let context: NIOSSLContext
        let check: TLSPeerCheck
        /// The SNI name: the host, unless it is an address literal.
        let serverName: String?
        let timeout: TimeAmount

        init(settings: NinePTLSClientSettings, host: String) throws(NinePTLSError) {
            if let problem = settings.problem { throw NinePTLSError(problem) }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv13
            configuration.maximumTLSVersion = .tlsv13
            configuration.certificateVerification = .fullVerification
            configuration.trustRoots = .certificates([])
            if let certificate = settings.certificatePath, let key = settings.keyPath {
                (configuration.certificateChain, configuration.privateKey) = try loadIdentity(certificate: certificate, key: key)
            }
            self.context = try makeContext(configuration)
            self.check = TLSPeerCheck(
                peer: "the server", rootsSource: settings.caPath.map { "--ca \($0)" } ?? "",
                roots: try settings.caPath.map { path throws(NinePTLSError) in try loadCertificates(path, flag: "--ca") } ?? [],
                pin: settings.pin, host: host)
            self.serverName = isIPAddress(host) ? nil : host
            self.timeout = TimeAmount(settings.handshakeTimeout)
        }
    }

    /// Everything a listener needs, read once from the settings' files.
    struct Server: Sendable {
        let context: NIOSSLContext
        let check: TLSPeerCheck?
        let logger: Logger
        let timeout: TimeAmount

        init(settings: NinePTLSServerSettings) throws(NinePTLSError) {
            let (chain, key) = try loadIdentity(certificate: settings.certificatePath, key: settings.keyPath)
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: key)
            configuration.minimumTLSVersion = .tlsv13
            configuration.maximumTLSVersion = .tlsv13
            if let clientCA = settings.clientCAPath {
                let roots = try loadCertificates(clientCA, flag: "--client-ca")
                // Ask for a certificate; TLSPeerCheck judges it (or its
                // absence) and TLSRefusalGate carries a refusal out.
                configuration.certificateVerification = .optionalVerification
                configuration.trustRoots = .certificates([])
                self.check = TLSPeerCheck(peer: "the client", rootsSource: "--client-ca \(clientCA)", roots: roots, pin: nil, host: nil)
            } else {
                configuration.certificateVerification = .none
                self.check = nil
            }
            self.context = try makeContext(configuration)
            self.logger = settings.logger
            self.timeout = TimeAmount(settings.handshakeTimeout)
        }
    }

    /// Adds the client's TLS handlers to a new channel's pipeline; `handshake`
    /// completes when the handshake has (or fails with a `NinePTLSError`).
    static func addClientHandlers(
        _ client: Client, to channel: any Channel, handshake: EventLoopPromise<Void>
    ) throws {
        let session = TLSSessionHandler(side: .client, handshake: handshake, timeout: client.timeout, requiresCertificate: true)
        let check = client.check
        let ssl = try NIOSSLClientHandler(
            context: client.context, serverHostname: client.serverName,
            customVerificationCallback: session.verifier(check))
        try channel.pipeline.syncOperations.addHandlers([ssl, session])
    }

    /// Adds the server's TLS handlers to an accepted channel's pipeline, in
    /// front of the 9P framing; `TLSRefusalGate` goes right after it.
    static func addServerHandlers(_ server: Server, to channel: any Channel) throws {
        let session = TLSSessionHandler(
            side: .server(server.logger), handshake: nil, timeout: server.timeout, requiresCertificate: server.check != nil)
        let ssl: NIOSSLServerHandler
        if let check = server.check {
            ssl = NIOSSLServerHandler(context: server.context, customVerificationCallback: session.verifier(check))
        } else {
            ssl = NIOSSLServerHandler(context: server.context)
        }
        try channel.pipeline.syncOperations.addHandlers([ssl, session])
    }

    /// The identity a TLS peer's certificate vouches for on `channel`, or nil.
    /// Call on the channel's event loop, after the handshake.
    static func peerIdentity(_ pipeline: ChannelPipeline.SynchronousOperations) -> NinePPeerIdentity? {
        (try? pipeline.handler(type: TLSSessionHandler.self))?.identity
    }
}

private func makeContext(_ configuration: TLSConfiguration) throws(NinePTLSError) -> NIOSSLContext {
    do {
        return try NIOSSLContext(configuration: configuration)
    } catch {
        throw NinePTLSError("cannot set up TLS: \(error)")
    }
}

/// Loads a PEM certificate chain (`--cert`) and its key (`--key`).
private func loadIdentity(
    certificate: String, key: String
) throws(NinePTLSError) -> ([NIOSSLCertificateSource], NIOSSLPrivateKeySource) {
    let chain: [NIOSSLCertificate]
    do {
        chain = try NIOSSLCertificate.fromPEMFile(certificate)
    } catch {
        throw NinePTLSError("--cert \(certificate): \(fileProblem(certificate) ?? "not a PEM certificate")")
    }
    guard !chain.isEmpty else { throw NinePTLSError("--cert \(certificate): no certificate in it") }
    let privateKey: NIOSSLPrivateKey
    do {
        privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
    } catch {
        throw NinePTLSError("--key \(key): \(fileProblem(key) ?? "not a PEM private key")")
    }
    return (chain.map { .certificate($0) }, .privateKey(privateKey))
}

/// The certificates of a PEM file of CA certificates.
func loadCertificates(_ path: String, flag: String) throws(NinePTLSError) -> [Certificate] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw NinePTLSError("\(flag) \(path): \(fileProblem(path) ?? "not a text file")")
    }
    let certificates: [Certificate]
    do {
        certificates = try PEMDocument.parseMultiple(pemString: text)
            .filter { $0.discriminator == "CERTIFICATE" }
            .map { try Certificate(pemDocument: $0) }
    } catch {
        throw NinePTLSError("\(flag) \(path): not a PEM certificate file (\(error))")
    }
    guard !certificates.isEmpty else { throw NinePTLSError("\(flag) \(path): no certificate in it") }
    return certificates
}

/// "no such file or directory" when a file cannot be opened, else nil.
private func fileProblem(_ path: String) -> String? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return errnoText(errno) }
    close(fd)
    return nil
}

/// Follows one TLS connection from just behind the `NIOSSLHandler`: runs the
/// peer check for the handshake's verification callback, keeps the peer's
/// identity, turns BoringSSL's failures into `NinePTLSError`s that say what
/// happened, and logs refusals on the server side.
///
/// Who calls: the channel's event loop; the verification's verdict comes
/// back to it through `verdict`.
final class TLSSessionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum Side {
        case client
        case server(Logger)
    }

    /// What the verification callback found, shared with its task.
    final class Verdict: Sendable {
        let value = Mutex<TLSPeerCheck.Verdict?>(nil)
    }

    private let side: Side
    private var handshake: EventLoopPromise<Void>?
    private let verdict = Verdict()
    private var handshakeDone = false
    private var logged = false
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    /// Whether the peer must show a certificate that passes the check.
    private let requiresCertificate: Bool
    /// Set when the handshake completes with a checked client certificate.
    private(set) var identity: NinePPeerIdentity?
    /// Server side: why the client is refused, once the handshake is over
    /// (a certificate that failed the check, or none).
    private(set) var refusal: String?

    init(side: Side, handshake: EventLoopPromise<Void>?, timeout: TimeAmount, requiresCertificate: Bool) {
        self.side = side
        self.handshake = handshake
        self.timeout = timeout
        self.requiresCertificate = requiresCertificate
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // A peer that never finishes the handshake (it does not speak TLS,
        // or it stalls) is given up on, and says so.
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let timeout = self.timeout
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            guard !handler.handshakeDone else { return }
            handler.fail(
                NinePTLSError("\(handler.peer) did not complete the TLS handshake within \(timeout.nanoseconds / 1_000_000_000) s (does it speak TLS?)"),
                context: context)
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    private var peer: String {
        switch side {
        case .client: "the server"
        case .server: "the client"
        }
    }

    /// The verification callback for the `NIOSSLHandler` in front of this
    /// one. A client fails the handshake on a refusal; a server lets it
    /// complete and refuses in 9P (see `TLSSession`).
    func verifier(_ check: TLSPeerCheck) -> NIOSSLCustomVerificationCallback {
        let verdict = self.verdict
        let refuse: NIOSSLVerificationResult
        switch side {
        case .client: refuse = .failed
        case .server: refuse = .certificateVerified
        }
        return { certificates, promise in
            promise.completeWithTask {
                let chain: [Certificate]
                do {
                    chain = try certificates.map { try Certificate(derEncoded: $0.toDERBytes()) }
                } catch {
                    verdict.value.withLock { $0 = .refused("\(check.peer)'s certificate does not parse: \(error)") }
                    return refuse
                }
                let result = await check.check(chain, now: Date())
                verdict.value.withLock { $0 = result }
                if case .accepted = result { return .certificateVerified }
                return refuse
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            handshakeDone = true
            timer?.cancel()
            timer = nil
            if case .server(let logger) = side, requiresCertificate {
                switch verdict.value.withLock({ $0 }) {
                case .accepted(let name?)?:
                    identity = .certificate(commonName: name)
                case .accepted(nil)?:
                    refusal = "the client's certificate has no common name to say who it is"
                case .refused(let reason)?:
                    refusal = reason
                case nil:
                    refusal = "the client showed no certificate, and this server requires one signed by its --client-ca "
                        + "(a client gives it with --cert FILE --key FILE)"
                }
                if let refusal {
                    logged = true
                    logger.notice("TLS connection from \(describeAddress(context.remoteAddress)) refused: \(refusal)")
                }
            }
            handshake?.succeed()
            handshake = nil
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if handshakeDone, let ssl = error as? NIOSSLError, case .uncleanShutdown = ssl {
            // The peer went away without close_notify (killed, say): the
            // same as a TCP connection ending, which channelInactive reports.
            return
        }
        let failure = NinePTLSError(describe(error))
        fail(failure, context: context)
        context.fireErrorCaught(failure)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !handshakeDone {
            // Not worth a notice on a server: a liveness probe (the srv
            // registry's) connects and closes without a word.
            fail(NinePTLSError("\(peer) closed the connection during the TLS handshake"), context: context, level: .debug)
        }
        context.fireChannelInactive()
    }

    private func fail(_ failure: NinePTLSError, context: ChannelHandlerContext, level: Logger.Level = .notice) {
        handshake?.fail(failure)
        handshake = nil
        if case .server(let logger) = side, !logged {
            logged = true
            logger.log(
                level: level, "TLS connection from \(describeAddress(context.remoteAddress)) refused: \(failure.reason)")
        }
    }

    /// The words for a failure of the TLS layer.
    private func describe(_ error: any Error) -> String {
        if case .refused(let reason)? = verdict.value.withLock({ $0 }) { return reason }
        let text = "\(error)"
        func has(_ codes: String...) -> Bool { codes.contains { text.contains($0) } }
        if has("CERTIFICATE_REQUIRED") {
            return "\(peer) requires a client certificate: give --cert FILE --key FILE (or set NINEP_CERT and NINEP_KEY)"
        }
        if has("PEER_DID_NOT_RETURN_A_CERTIFICATE") {
            return "the client showed no certificate, and this server requires one signed by its --client-ca"
        }
        if has("ALERT_BAD_CERTIFICATE", "ALERT_CERTIFICATE_UNKNOWN", "ALERT_UNKNOWN_CA", "ALERT_CERTIFICATE_EXPIRED",
               "ALERT_ACCESS_DENIED", "ALERT_UNSUPPORTED_CERTIFICATE", "ALERT_CERTIFICATE_REVOKED", "ALERT_DECRYPT_ERROR") {
            return "\(peer) refused this side's certificate (TLS alert '\(alertName(in: text))'); \(peer)'s log says why"
        }
        if has("PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL") {
            return "\(peer) does not speak TLS 1.3"
        }
        if has("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG", "RECORD_TOO_LARGE", "DECODE_ERROR") {
            return "\(peer) does not speak TLS (is it listening on tcp! rather than tls!?)"
        }
        if let ssl = error as? NIOSSLError, case .uncleanShutdown = ssl {
            return "\(peer) closed the connection during the TLS handshake"
        }
        return "TLS failed: \(NinePTransportError.reason(for: error))"
    }
}

/// "certificate unknown" for a BoringSSL error naming
/// SSLV3_ALERT_CERTIFICATE_UNKNOWN.
private func alertName(in text: String) -> String {
    guard let start = text.range(of: "ALERT_") else { return text }
    let code = text[start.upperBound...].prefix { $0.isUppercase || $0 == "_" || $0.isNumber }
    return code.lowercased().replacingOccurrences(of: "_", with: " ")
}

/// Answers every 9P message on a TLS connection whose client the server
/// refused (`TLSSessionHandler.refusal`) with an Rerror holding the reason,
/// then closes the connection: nothing reaches the handlers after it. A
/// connection let in loses the gate at its first message.
///
/// Placed right after the `FcallChannelHandler` of accepted TLS
/// connections. Who calls: the channel's event loop.
final class TLSRefusalGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Fcall
    typealias InboundOut = Fcall
    typealias OutboundOut = Fcall

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let session = try? context.pipeline.syncOperations.handler(type: TLSSessionHandler.self)
        guard let refusal = session?.refusal else {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        let fcall = unwrapInboundIn(data)
        let reply = Fcall(tag: fcall.tag, .rerror(Rerror(ename: "refused by the server: \(refusal)")))
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// "127.0.0.1:40312" or "/path" for log lines.
func describeAddress(_ address: SocketAddress?) -> String {
    guard let address else { return "an unknown address" }
    if let ip = address.ipAddress, let port = address.port { return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
    return address.pathname ?? "\(address)"
}
