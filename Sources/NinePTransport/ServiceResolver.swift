public import NIOCore
import Synchronization

/// Turns a posted service name (`srv!name`, or a bare name) into the
/// address to dial.
///
/// NinePTransport parses service names but does not know where they are
/// posted: the srv registry is a 9P file server, and asking it takes a 9P
/// client, which lives above this module. So the resolver is injected:
/// NinePRegistry's `SrvResolver` asks the registry with NinePClient, and a
/// program installs it once (`ServiceResolution.install`), as the `ninep`
/// command does; tests and embedders may pass their own to `dial`.
///
/// Who calls: `NinePConnection.dial` for `.srv` addresses, from any task
/// (a reconnecting client's redials included, so a service that came back
/// at a new address is found there).
public protocol ServiceResolver: Sendable {
    /// The address posted under `name` (`id1/id2/name`, or `/name` from the
    /// top of the registry; `SrvNamespace.path(for:)` says where it lives).
    ///
    /// - Throws: a `.dial` error for `srv!name` whose reason says what the
    ///   registry answered, verbatim when it answered an error: "no service
    ///   named x is posted (ninep srv ls)", "service x is gone: …", "no srv
    ///   registry at …".
    func resolve(service name: String, group: any EventLoopGroup) async throws(NinePTransportError) -> NinePAddress
}

/// The process's resolver for service names, used by every dial that is not
/// handed one.
///
/// Thread safety: behind a lock; install before dialling.
public enum ServiceResolution {
    private static let installed = Mutex<(any ServiceResolver)?>(nil)

    /// Makes `resolver` the one every `srv!` dial uses from now on (nil:
    /// none, and such dials fail saying so).
    public static func install(_ resolver: (any ServiceResolver)?) {
        installed.withLock { $0 = resolver }
    }

    /// The installed resolver, if any.
    public static var resolver: (any ServiceResolver)? {
        installed.withLock { $0 }
    }

    /// The address for `name` from `resolver`, else the installed one.
    public static func resolve(
        _ name: String, with resolver: (any ServiceResolver)?, group: any EventLoopGroup
    ) async throws(NinePTransportError) -> NinePAddress {
        guard let resolver = resolver ?? Self.resolver else {
            throw NinePTransportError(.dial, address: NinePAddress.srv(name: name).description, reason: """
                this program resolves no service names (install one with ServiceResolution.install, \
                e.g. NinePRegistry's SrvResolver); dial the service's own address instead
                """)
        }
        return try await resolver.resolve(service: name, group: group)
    }
}

/// A resolver that already has its answer: for a caller that looked a
/// service name up first (under the registry's deadline) and dials it
/// later (under its own), keeping the connection's `srv!name` and the
/// dial errors that name both.
public struct ResolvedService: ServiceResolver {
    /// The address the name was resolved to.
    public let target: NinePAddress

    public init(_ target: NinePAddress) {
        self.target = target
    }

    public func resolve(service name: String, group: any EventLoopGroup) async throws(NinePTransportError) -> NinePAddress {
        target
    }
}
