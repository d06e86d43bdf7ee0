import Foundation
import Glibc
import NIOCore
import NIOPosix
import NinePClient
@testable import NinePExport
import NinePServer
import NinePTesting
import NinePTransport
import NinePWire
import Testing

/// An export run as root acts for each user with that user's file-system
/// credentials, on whichever thread runs the request, and for no other
/// request. Needs root (to make the users and to change credentials).
@Suite("Export: per-user credentials", .enabled(if: TemporaryUser.canMake), .timeLimit(.minutes(3)))
struct ExportUserTests {
    /// Serves `tree` with `users` in this process for `body`.
    private func withExport(
        _ tree: TwoUserTree, users: ExportUsers = .perUser, _ body: (NinePAddress) async throws -> Void
    ) async throws {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        let fs = try ExportFileServer(root: tree.path, threadPool: pool, users: users)
        do {
            try await LocalServer.with(fs, body)
        } catch {
            try? await pool.shutdownGracefully()
            throw error
        }
        try await pool.shutdownGracefully()
    }

    private func client(_ address: NinePAddress, as user: String) async throws -> NinePClient {
        let client = try await NinePClient.connect(to: address, group: MultiThreadedEventLoopGroup.singleton)
        _ = try await client.attach(uname: user)
        return client
    }

    private func read(_ client: NinePClient, _ path: String) async throws -> String {
        let fid = try await client.open(path: path, mode: .read)
        defer { Task { try? await client.clunk(fid) } }
        return String(buffer: try await client.readAll(fid))
    }

    private func isPermissionDenied(_ error: any Error) -> Bool {
        "\(error)".contains(NinePError.permissionDenied.ename)
    }

    @Test func eachUserReadsTheirOwnSecretAndNotTheOthers() async throws {
        let tree = try TwoUserTree()
        defer { tree.remove() }
        let (alice, bob) = (tree.users[0].name, tree.users[1].name)
        try await withExport(tree) { address in
            let a = try await client(address, as: alice)
            let b = try await client(address, as: bob)
            #expect(try await read(a, "\(alice)-secret") == "\(alice) only\n")
            #expect(try await read(b, "\(bob)-secret") == "\(bob) only\n")
            await #expect(throws: (any Error).self) { try await read(a, "\(bob)-secret") }
            await #expect(throws: (any Error).self) { try await read(b, "\(alice)-secret") }
            // Nor a walk through the other's 0700 directory.
            let bobsDirectory = try await a.walk(path: "\(bob)")
            do {
                _ = try await a.walk(from: bobsDirectory, names: ["anything"])
                Issue.record("\(alice) walked into \(bob)'s 0700 directory")
            } catch {
                #expect(isPermissionDenied(error), "\(error)")
            }
            await a.close()
            await b.close()
        }
    }

    @Test func filesEachUserCreatesAreTheirs() async throws {
        let tree = try TwoUserTree()
        defer { tree.remove() }
        try await withExport(tree) { address in
            for user in tree.users {
                let c = try await client(address, as: user.name)
                let fid = try await c.create(path: "pub/made-by-\(user.name)", perm: FileMode(rawValue: 0o644), mode: .write)
                _ = try await c.write(fid, offset: 0, data: ByteBuffer(string: "mine"))
                try await c.clunk(fid)
                let dir = try await c.create(
                    path: "\(user.name)/sub", perm: FileMode(rawValue: 0o755 | FileMode.dir.rawValue), mode: .read)
                try await c.clunk(dir)
                await c.close()
                #expect(tree.owner("pub/made-by-\(user.name)") == user.uid)
                #expect(tree.owner("\(user.name)/sub") == user.uid)
            }
        }
    }

    /// 64 requests from each user at once, on a pool of several threads
    /// and the event loops (walks, stats and creates run there): every
    /// answer is the one its own user's credentials give.
    @Test func interleavedRequestsNeverCrossCredentials() async throws {
        let tree = try TwoUserTree()
        defer { tree.remove() }
        try await withExport(tree) { address in
            let clients = [try await client(address, as: tree.users[0].name), try await client(address, as: tree.users[1].name)]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for round in 0..<64 {
                    for (me, c) in clients.enumerated() {
                        let mine = tree.users[me].name
                        let theirs = tree.users[1 - me].name
                        group.addTask {
                            switch round % 3 {
                            case 0:
                                let fid = try await c.create(
                                    path: "pub/\(mine)-\(round)", perm: FileMode(rawValue: 0o600), mode: .write)
                                try await c.clunk(fid)
                            case 1:
                                #expect(try await read(c, "\(mine)-secret") == "\(mine) only\n")
                            default:
                                do {
                                    let leaked = try await read(c, "\(theirs)-secret")
                                    Issue.record("\(mine) read \(theirs)'s secret: \(leaked)")
                                } catch {
                                    #expect(isPermissionDenied(error), "\(error)")
                                }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            for c in clients { await c.close() }
        }
        for (index, user) in tree.users.enumerated() {
            for round in stride(from: 0, to: 64, by: 3) {
                #expect(tree.owner("pub/\(user.name)-\(round)") == user.uid, "pub/\(user.name)-\(round) of user \(index)")
            }
        }
    }

    @Test func theThreadHasTheServersCredentialsAgainAfterARequest() throws {
        let tree = try TwoUserTree()
        defer { tree.remove() }
        let user = tree.users[0]
        let credentials = ThreadCredentials(.perUser)
        let during = try credentials.run(as: user.name) { () throws(NinePError) in Self.fsIDs() }
        #expect(during.uid == user.uid && during.gid == user.gid)
        let after = Self.fsIDs()
        #expect(after.uid == geteuid() && after.gid == getegid())
        // An unknown user is refused, not served as the server.
        #expect(throws: NinePError.self) { try credentials.run(as: "no-such-user-\(getpid())") { () throws(NinePError) in 0 } }
    }

    @Test func squashActsAsTheOneUserWhoeverAttaches() async throws {
        let tree = try TwoUserTree()
        defer { tree.remove() }
        let squashed = try #require(LocalUser.named(tree.users[0].name))
        try await withExport(tree, users: .squash(squashed)) { address in
            let c = try await client(address, as: tree.users[1].name)
            #expect(try await read(c, "\(squashed.name)-secret") == "\(squashed.name) only\n")
            let fid = try await c.create(path: "pub/squashed", perm: FileMode(rawValue: 0o644), mode: .write)
            try await c.clunk(fid)
            await c.close()
        }
        #expect(tree.owner("pub/squashed") == squashed.uid)
    }

    /// The calling thread's fsuid and fsgid (/proc/thread-self/status).
    private static func fsIDs() -> (uid: UInt32, gid: UInt32) {
        let status = (try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8)) ?? ""
        func fourth(_ key: String) -> UInt32 {
            let line = status.split(separator: "\n").first { $0.hasPrefix(key) } ?? ""
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            return fields.count > 4 ? UInt32(fields[4]) ?? .max : .max
        }
        return (fourth("Uid:"), fourth("Gid:"))
    }
}
