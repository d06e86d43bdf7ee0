import ArgumentParser
import Foundation
import Glibc
import Logging
import NinePFuse
import NinePRegistry
import NinePServer
import NinePTransport
import NinePWire

/// Options shared by every command that talks to a server as a client.
struct ClientOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The tree to attach to (the aname of Tattach).", valueName: "aname"))
    var aname: String = ""

    @Option(help: ArgumentHelp("The user to attach as (default: the name of your uid; over tls! with --cert, the certificate's name).", valueName: "user"))
    var uname: String?

    @Option(help: ArgumentHelp("The largest 9P message to offer, in bytes (default 1 MiB + 24).", valueName: "bytes"))
    var msize: UInt32 = NineP.defaultMessageSize

    @Flag(name: .customShort("D"), help: "Print every 9P message sent and received on standard error.")
    var debug = false

    @Option(name: .customLong("connect-timeout"), help: ArgumentHelp(
        "Give up if the server has not been dialled, agreed on the version and answered the attach within this many seconds (default $NINEP_CONNECT_TIMEOUT, else 5). A srv! name's registry lookup comes first, under the registry's own deadline.",
        valueName: "seconds"))
    var connectTimeoutOption: Double?

    /// The environment variable that sets the default of `--connect-timeout`.
    static let connectTimeoutVariable = "NINEP_CONNECT_TIMEOUT"

    /// `--connect-timeout`, else `$NINEP_CONNECT_TIMEOUT`, else 5 seconds.
    /// (A value of the variable that is not a number is caught by `validate`.)
    var connectTimeout: Double {
        connectTimeoutOption ?? ProcessInfo.processInfo.environment[Self.connectTimeoutVariable].flatMap(Double.init) ?? 5
    }

    /// `--connect-timeout` as a Duration.
    var connectDeadline: Duration { .milliseconds(Int64(connectTimeout * 1000)) }

    @Option(help: ArgumentHelp(
        "Resolve posted service names inside this srv service directory (e.g. 1/2), like 9front's $srvspec; sets $NINEP_SRVSPEC.",
        valueName: "dir"))
    var srvspec: String?

    @OptionGroup(title: "TLS (tls! addresses)") var tls: TLSOptions

    /// The user name to attach as: --uname, else the name in the client
    /// certificate (what a server that checks it expects), else the login name.
    func user(tls settings: NinePTLSClientSettings?) -> String {
        uname ?? settings?.certificateCommonName() ?? defaultUserName()
    }

    /// Makes service names dialable: installs the srv registry as the
    /// resolver of `srv!` names, and makes --srvspec visible to it (and to
    /// exec! children). Call once, before dialling.
    func prepareDialling() {
        if let srvspec { setenv(SrvNamespace.srvspecVariable, srvspec, 1) }
        SrvResolver.install()
    }

    func validate() throws {
        guard msize >= 256 else {
            throw ValidationError("--msize \(msize) is too small: 9P needs at least 256 bytes")
        }
        guard msize <= 64 << 20 else {
            throw ValidationError("--msize \(msize) is too large: the limit is 64 MiB")
        }
        if connectTimeoutOption == nil, let text = ProcessInfo.processInfo.environment[Self.connectTimeoutVariable],
           !(Double(text).map { $0 > 0 && $0 < 1e6 } ?? false) {
            throw ValidationError("$\(Self.connectTimeoutVariable) '\(text)' is not a positive number of seconds")
        }
        guard connectTimeout > 0 && connectTimeout < 1e6 else {
            throw ValidationError("--connect-timeout needs a positive number of seconds")
        }
    }
}

/// Options shared by the servers (`export`, `ramfs`).
struct ServeOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Listen on ADDR (tls!*!564 with --cert and --key, unix!/path, tcp!127.0.0.1!564, host:port) instead of serving standard input and output; plain TCP beyond loopback needs --insecure.",
        valueName: "addr"))
    var listen: String?

    @Option(help: ArgumentHelp(
        "Post the service in the srv registry under NAME (removed again on a clean exit). Without --listen, listen on the unix socket NS/NAME (plan9port's convention).",
        valueName: "name"))
    var post: String?

    @Flag(help: ArgumentHelp(
        "With --post on a unix socket: hand the listening socket to the registry (SCM_RIGHTS), which holds it until 'ninep srv rm NAME'; while no server holds the socket the entry shows as gone."))
    var handOver = false

    @Flag(name: .customShort("D"), help: "Print every 9P message received and sent on standard error (like chatty9p).")
    var debug = false

    @Option(help: ArgumentHelp(
        "Serve only this dialect (9P2000, 9P2000.u, 9P2000.L); repeat for several. Default: every dialect the server speaks.",
        valueName: "dialect"))
    var dialect: [ProtocolVersion] = []

    @Option(help: ArgumentHelp("The most fids one connection may hold.", valueName: "n"))
    var maxFids: Int = 65_536

    @Option(help: ArgumentHelp("The most requests one connection may have outstanding.", valueName: "n"))
    var maxRequests: Int = 1_024

    @Option(help: ArgumentHelp("The largest msize to grant, in bytes (default 1 MiB + 24).", valueName: "bytes"))
    var maxMsize: UInt32 = NineP.defaultMessageSize

    @Option(help: ArgumentHelp(
        "The most connections served at once (default 1024, lowered to fit the descriptor limit).", valueName: "n"))
    var maxConnections: Int?

    @Option(help: ArgumentHelp("The most connections served at once from one IP address (unix sockets count as one).", valueName: "n"))
    var maxConnectionsPerPeer: Int = ServerLimits.defaultMaxConnectionsPerPeer

    @Option(help: ArgumentHelp(
        "Close a connection with no request, fid or reply outstanding after this many seconds (0: never).", valueName: "seconds"))
    var idleTimeout: Double = 120

    @Option(help: ArgumentHelp(
        "Close a connection that sent part of a message and not the rest within this many seconds (0: never).", valueName: "seconds"))
    var stallTimeout: Double = 30

    @Option(help: ArgumentHelp(
        "Bytes of read and write replies one connection may have outstanding or unwritten; beyond it its requests wait (default 16 MiB).",
        valueName: "bytes"))
    var replyBudget: Int = ServerLimits.defaultConnectionReplyBudget

    @Option(help: ArgumentHelp(
        "Bytes of replies all connections together may have outstanding or unwritten (default 256 MiB).", valueName: "bytes"))
    var serverReplyBudget: Int = ServerLimits.defaultServerReplyBudget

    @Flag(help: ArgumentHelp(
        "Allow --listen on plain TCP beyond loopback, where anyone who can reach the port attaches as whoever they say, in clear text (u9fs -a none)."))
    var insecure = false

    @OptionGroup(title: "TLS (tls! addresses)") var tls: TLSOptions

    func validate() throws {
        if handOver {
            guard post != nil else { throw ValidationError("--hand-over needs --post NAME") }
            guard listen.map({ $0.hasPrefix("unix!") }) ?? true else {
                throw ValidationError("--hand-over gives the registry a unix socket: use --listen unix!/path or no --listen")
            }
        }
        if let listen, let address = try? NinePAddress(listenString: listen), case .tcp = address,
           address.isLoopback == false, !insecure {
            throw ValidationError("""
                --listen \(listen) would serve plain TCP to other hosts: anyone who can reach the port could attach \
                as any user, and everything would cross the network in clear text. Serve it safely with TLS \
                (--listen tls!…!564 --cert FILE --key FILE, see 'ninep cert --help') or over ssh \
                (clients dial 'exec!ssh HOST ninep export DIR'); or give --insecure to do it anyway
                """)
        }
        guard maxFids > 0 else { throw ValidationError("--max-fids must be positive") }
        guard maxRequests > 0 else { throw ValidationError("--max-requests must be positive") }
        guard maxMsize >= 256 else { throw ValidationError("--max-msize must be at least 256") }
        if let maxConnections, maxConnections <= 0 { throw ValidationError("--max-connections must be positive") }
        guard maxConnectionsPerPeer > 0 else { throw ValidationError("--max-connections-per-peer must be positive") }
        guard idleTimeout >= 0, stallTimeout >= 0 else { throw ValidationError("timeouts cannot be negative") }
        guard replyBudget >= Int(maxMsize) else {
            throw ValidationError("--reply-budget \(replyBudget) must hold at least one message of --max-msize \(maxMsize)")
        }
        guard serverReplyBudget >= replyBudget else {
            throw ValidationError("--server-reply-budget must be at least --reply-budget")
        }
    }
}

extension ServeOptions {
    /// The warning printed at start when other hosts may attach as whoever
    /// they say: plain TCP beyond loopback (with --insecure), or TLS beyond
    /// loopback without --client-ca (encrypted, but no client is
    /// authenticated); nil otherwise.
    var trustWarning: String? {
        guard let listen, let address = try? NinePAddress(listenString: listen), address.isLoopback == false else { return nil }
        switch address {
        case .tcp where insecure:
            return "ninep: warning: --insecure: serving plain TCP on \(address) to other hosts; attach names are taken on trust "
                + "and nothing is encrypted (use tls! or ssh to do it safely)\n"
        case .tls where tls.clientCA == nil && ProcessInfo.processInfo.environment["NINEP_CLIENT_CA"] == nil:
            return "ninep: warning: serving TLS on \(address) to other hosts without --client-ca: the connections are encrypted, "
                + "but no client is authenticated and attach names are taken on trust (give --client-ca FILE to let in only "
                + "clients with a certificate from that CA, see 'ninep cert --help')\n"
        default:
            return nil
        }
    }
}

/// TLS settings, for clients and servers alike: each flag overrides its
/// environment variable, so that `srv!` names and scripts need no flags.
/// A client uses --ca or --pin (and --cert/--key when the server asks for a
/// certificate); a server uses --cert/--key (and --client-ca to require
/// client certificates).
struct TLSOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Clients: the CA certificates (PEM) the server's certificate must chain to, and name the host dialled ($NINEP_CA).",
        valueName: "file"))
    var ca: String?

    @Option(help: ArgumentHelp(
        "Clients: the server's public key must have this SHA-256, as 'ninep cert' prints it ($NINEP_PIN).",
        valueName: "sha256:hex"))
    var pin: String?

    @Option(help: ArgumentHelp(
        "This side's certificate (PEM): a server's, or a client's for servers that ask for one ($NINEP_CERT).",
        valueName: "file"))
    var cert: String?

    @Option(help: ArgumentHelp("The private key (PEM) of --cert ($NINEP_KEY).", valueName: "file"))
    var key: String?

    @Option(name: .customLong("client-ca"), help: ArgumentHelp(
        "Servers: let in only clients whose certificate chains to these CA certificates (PEM); its common name is the client's user name ($NINEP_CLIENT_CA).",
        valueName: "file"))
    var clientCA: String?

    func validate() throws {
        if let pin {
            do {
                _ = try NinePTLSPin(parsing: pin)
            } catch {
                throw ValidationError("--pin: \(error)")
            }
        }
    }

    /// How a client checks a `tls!` server: flags, else `-o` mount options
    /// (`ca=`, `pin=`, `cert=`, `key=`), else the environment.
    func clientSettings(mountOptions: MountOptions = MountOptions()) throws -> NinePTLSClientSettings {
        let environment = try NinePTLSClientSettings.environment()
        let pinText = pin ?? mountOptions.tlsPin
        return NinePTLSClientSettings(
            caPath: ca ?? mountOptions.tlsCA ?? environment.caPath,
            pin: try pinText.map { try NinePTLSPin(parsing: $0) } ?? environment.pin,
            certificatePath: cert ?? mountOptions.tlsCertificate ?? environment.certificatePath,
            keyPath: key ?? mountOptions.tlsKey ?? environment.keyPath)
    }

    /// What a `tls!` listener shows and whom it lets in: flags, else the
    /// environment; nil without a certificate and key.
    func serverSettings(logger: Logger) -> NinePTLSServerSettings? {
        let environment = NinePTLSServerSettings.environment(logger: logger)
        guard let certificate = cert ?? environment?.certificatePath, let key = key ?? environment?.keyPath else { return nil }
        return NinePTLSServerSettings(
            certificatePath: certificate, keyPath: key, clientCAPath: clientCA ?? environment?.clientCAPath, logger: logger)
    }
}

/// Whether `name` is a user in the password database.
func isLocalUser(_ name: String) -> Bool {
    LocalUser.named(name) != nil
}

/// The login name of the user running the command: the one its uid has
/// (what a server that checks the transport's identity expects), else
/// $USER, else "none".
func defaultUserName() -> String {
    if let user = LocalUser.withID(geteuid()) { return user.name }
    if let user = getenv("USER").map({ String(cString: $0) }), !user.isEmpty { return user }
    return "none"
}

/// Sets up logging once: notice and above on stderr, everything with -D;
/// under systemd, in the journal's format (`JournalLogHandler`).
func bootstrapLogging(debug: Bool) {
    let journal = JournalLogHandler.isJournal
    LoggingSystem.bootstrap { label in
        if journal { return JournalLogHandler(label: label, logLevel: debug ? .trace : .notice) }
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = debug ? .trace : .notice
        return handler
    }
}

/// Prints `ninep: message` on stderr (an error, `<3>`, for the journal)
/// and exits with status 1.
func fail(_ message: String) -> Never {
    if JournalLogHandler.isJournal {
        FileHandleStderr.write("<\(JournalLogHandler.priority(.error))>ninep: \(message.replacingNewlines())\n")
    } else {
        FileHandleStderr.write("ninep: \(message)\n")
    }
    exit(1)
}

/// Unbuffered writes to standard error.
enum FileHandleStderr {
    static func write(_ text: String) {
        var bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + done, $0.count - done) }
            if n <= 0 { return }
            done += n
        }
    }
}
