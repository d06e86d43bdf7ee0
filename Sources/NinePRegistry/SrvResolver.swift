public import NIOCore
public import NinePTransport
import NinePClient
import NinePWire
import Synchronization

/// Resolves `srv!NAME` and bare names by asking the srv registry over 9P
/// with NinePClient: walk to the entry, check what it is, open it, read the
/// address posted there.
///
/// What the registry says reaches the user as itself: a name that is not
/// there is "no service named X is posted (ninep srv ls)", an entry found
/// dead is "service X is gone: …", a service directory or a file2chan file
/// entry is named for what it is, and any other error the registry answers
/// comes back verbatim with the operation that drew it ("walk /1 on srv
/// registry unix!…: permission denied"). A registry that is not there is
/// "no srv registry at ADDR (REASON); start one with 'ninep srv'"; one that
/// does not answer within `timeout` is said to be silent, never "not posted".
///
/// Who calls: `NinePConnection.dial`, through `ServiceResolution`, from any
/// task. Each lookup is one short connection to the registry.
public struct SrvResolver: ServiceResolver {
    /// The registry to ask; nil: the one in the namespace directory
    /// (`SrvNamespace.registryAddress()`), read anew at each lookup.
    public var registry: NinePAddress?
    /// How long the registry has to answer a whole lookup (generous: a
    /// loaded machine must not turn a slow answer into a failure).
    public var timeout: TimeAmount

    public init(registry: NinePAddress? = nil, timeout: TimeAmount = .seconds(30)) {
        self.registry = registry
        self.timeout = timeout
    }

    /// Makes the registry of the namespace directory the process's resolver
    /// for every `srv!` dial (the `ninep` command does this at start).
    public static func install() {
        ServiceResolution.install(SrvResolver())
    }

    public func resolve(service name: String, group: any EventLoopGroup) async throws(NinePTransportError) -> NinePAddress {
        let registry = self.registry ?? SrvNamespace.registryAddress()
        let fail = { (reason: String) in NinePTransportError(.dial, address: NinePAddress.srv(name: name).description, reason: reason) }
        let path = SrvNamespace.path(for: name)
        guard !path.isEmpty else { throw fail("empty service name") }
        let connection: NinePConnection
        do {
            connection = try await NinePConnection.dial(registry, group: group, maxMessageSize: Self.messageSize)
        } catch {
            throw fail("no srv registry at \(registry) (\(NinePTransportError.reason(for: error))); start one with 'ninep srv'")
        }
        // One deadline for the whole lookup: a registry that accepts and
        // then says nothing (stopped, wedged) has its connection closed,
        // which fails whatever request is waiting.
        let expired = Expiry()
        let timer = connection.channel.eventLoop.scheduleTask(in: timeout) {
            expired.fire()
            connection.channel.close(promise: nil)
        }
        defer { timer.cancel() }
        do {
            let client = try await NinePClient.connect(
                channel: connection.channel,
                configuration: NinePClient.Configuration(messageSize: Self.messageSize, serverName: "srv registry \(registry)"))
            do {
                let address = try await Self.lookUp(name, path: path, registry: registry, client: client, fail: fail)
                await client.close()
                return address
            } catch {
                await client.close()
                throw error
            }
        } catch let error as NinePTransportError {
            throw error
        } catch {
            guard !expired.fired else {
                throw fail("the srv registry at \(registry) did not answer within \(Self.describe(timeout))")
            }
            // The client's error names the operation and keeps the
            // registry's own text verbatim.
            throw fail("\(error)")
        }
    }

    /// "30 s", or "500 ms" for a deadline that is not whole seconds.
    static func describe(_ time: TimeAmount) -> String {
        time.nanoseconds % 1_000_000_000 == 0 ? "\(time.nanoseconds / 1_000_000_000) s" : "\(time.nanoseconds / 1_000_000) ms"
    }

    /// A lookup needs small messages only.
    static let messageSize: UInt32 = 8192

    /// Attach, walk, check and read, on a connected `client`.
    private static func lookUp(
        _ name: String, path: [String], registry: NinePAddress, client: NinePClient,
        fail: (String) -> NinePTransportError
    ) async throws -> NinePAddress {
        let display = path.joined(separator: "/")
        // Element by element, to tell a missing service directory from a
        // missing name; the connection's end releases the fids.
        var at = try await client.attach(uname: "none")
        for (index, element) in path.enumerated() {
            do {
                at = try await client.walk(from: at, names: [element])
            } catch let error as NinePClientError where isMissing(error) {
                let directory = index < path.count - 1 ? ": there is no service directory \(path[...index].joined(separator: "/"))" : ""
                throw fail("no service named \(display) is posted\(directory) (ninep srv ls)")
            }
        }
        let entry = try await client.stat(at)
        guard !entry.qid.type.contains(.dir) else {
            throw fail("\(display) is a service directory, not a service")
        }
        guard !entry.qid.type.contains(.tmp) else { throw fail(fileEntry(display, registry: registry)) }
        _ = try await client.open(at, mode: .read)
        let fields = RegistryTree.fields(of: String(buffer: try await client.readAll(at)))
        guard let first = fields.first else { throw fail("service \(name) is not posted yet (its entry is empty)") }
        if fields.dropFirst().first == "gone" {
            throw fail("service \(name) is gone: nothing answers at \(first) (ninep srv rm \(name))")
        }
        if fields.dropFirst().first?.hasPrefix("/") == true { throw fail(fileEntry(display, registry: registry)) }
        let address: NinePAddress
        do {
            address = try NinePAddress(dialString: first)
        } catch {
            throw fail("the registry entry \(display) holds no address: \(error)")
        }
        if case .srv = address { throw fail("registry entry \(display) holds another srv! name '\(first)'") }
        return address
    }

    /// Whether a walk failed because the element is not there (rather than
    /// for a reason the registry gave, which the user must see).
    private static func isMissing(_ error: NinePClientError) -> Bool {
        switch error.kind {
        case .walkIncomplete: true
        case .server(let e): e == .notFound || e == .doesNotExist
        case .connectionLost, .versionRefused, .linuxError, .noAnswer, .badVersion, .protocolError, .messageTooLarge,
            .unknownFid, .notAttached:
            false
        }
    }

    /// Why a file entry cannot be dialled, and how to use it instead.
    private static func fileEntry(_ display: String, registry: NinePAddress) -> String {
        """
        \(display) is a file served by a program (file2chan), not a service: \
        read and write it in the registry (ninep read \(registry) \(display))
        """
    }
}

/// Whether a lookup's deadline passed. Set on the registry connection's
/// event loop, read by the lookup's task.
private final class Expiry: Sendable {
    private let flag = Atomic<Bool>(false)
    func fire() { flag.store(true, ordering: .relaxed) }
    var fired: Bool { flag.load(ordering: .relaxed) }
}
