import Glibc
import NIOCore
import NIOPosix
import NinePServer
import NinePTesting
import NinePTransport
import NinePWire
import Testing
@testable import NinePRegistry

/// `SrvResolver`: what the registry answers reaches the caller as itself.
@Suite struct SrvResolverTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// A registry that answers a walk with an error of its own: the error is
    /// shown verbatim, never turned into "not posted".
    @Test func aRegistryErrorReachesTheCallerVerbatim() async throws {
        let ns = try TemporaryDirectory(prefix: "ninep-ns")
        defer { ns.remove() }
        let registry = NinePAddress.unix(path: ns.path + "/ninep-srv")
        let server = try await NinePServer.listen(RefusingWalks(NinePError("srv registry overloaded: try again later")), on: registry)
        await #expect {
            try await SrvResolver(registry: registry).resolve(service: "db", group: group)
        } throws: { error in
            "\(error)" == "cannot dial srv!db: walk /db on srv registry \(registry): srv registry overloaded: try again later"
        }
        // Through the dial, as every client meets it.
        await #expect {
            try await NinePConnection.dial("db", group: group, resolver: SrvResolver(registry: registry))
        } throws: { error in
            "\(error)".hasSuffix(": srv registry overloaded: try again later")
        }
        await server.close()
    }

    @Test func aDeadRegistryIsNamedWithTheReason() async throws {
        let ns = try TemporaryDirectory(prefix: "ninep-ns")
        defer { ns.remove() }
        // What a killed registry leaves: its socket file, bound, with
        // nobody listening on it.
        let path = ns.path + "/ninep-srv"
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(stale) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        await #expect {
            try await SrvResolver(registry: .unix(path: path)).resolve(service: "db", group: group)
        } throws: { error in
            "\(error)" == "cannot dial srv!db: no srv registry at unix!\(path) (connection refused); start one with 'ninep srv'"
        }
        await #expect {
            try await SrvResolver(registry: .unix(path: ns.path + "/none")).resolve(service: "db", group: group)
        } throws: { error in
            "\(error)" == """
                cannot dial srv!db: no srv registry at unix!\(ns.path)/none (no such file or directory); \
                start one with 'ninep srv'
                """
        }
    }

    /// A registry that accepts and never answers (stopped, wedged) is
    /// reported as silent once the deadline passes; it never answers, so the
    /// outcome does not depend on the machine's speed.
    @Test func aSilentRegistryIsReportedAsSilent() async throws {
        let ns = try TemporaryDirectory(prefix: "ninep-ns")
        defer { ns.remove() }
        let registry = NinePAddress.unix(path: ns.path + "/ninep-srv")
        let listener = try await NinePListener.listen(registry, group: group) { $0.eventLoop.makeSucceededVoidFuture() }
        await #expect {
            try await SrvResolver(registry: registry, timeout: .milliseconds(500)).resolve(service: "db", group: group)
        } throws: { error in
            "\(error)" == "cannot dial srv!db: the srv registry at \(registry) did not answer within 500 ms"
        }
        await listener.close()
    }

    @Test func missingNamesDirectoriesAndExecEntries() async throws {
        let h = try await RegistryHarness.start()
        await #expect { try await h.resolve("nosuch") } throws: {
            "\($0)" == "cannot dial srv!nosuch: no service named nosuch is posted (ninep srv ls)"
        }
        await #expect { try await h.resolve("7/8/db") } throws: {
            "\($0)" == "cannot dial srv!7/8/db: no service named 7/8/db is posted: there is no service directory 7 (ninep srv ls)"
        }
        // An exec! command keeps its arguments.
        try await h.post("exported", "exec!ninep export /tmp")
        #expect(try await h.resolve("exported") == .exec(command: "ninep export /tmp"))
        // A leading / is absolute.
        #expect(try await h.resolve("/exported") == .exec(command: "ninep export /tmp"))
        await h.stop()
    }
}
