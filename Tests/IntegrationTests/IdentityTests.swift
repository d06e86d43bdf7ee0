import Foundation
import Glibc
import NinePTesting
import NinePTransport
import Testing

/// `ninep export` checks the attach name against the user the transport
/// vouches for, and run as root acts as that user; clients run as two
/// unprivileged users made by the test (setpriv). Needs root.
@Suite("export: who the client is", .enabled(if: TemporaryUser.canMake), .timeLimit(.minutes(4)))
struct IdentityTests {
    /// A `TwoUserTree` and the `ninep` binary where its users can run it.
    struct Setup {
        let tree: TwoUserTree
        let ninep: String
        private let copied: TemporaryDirectory?
        var users: [TemporaryUser] { tree.users }

        init() throws {
            tree = try TwoUserTree()
            do {
                // The build directory may be out of the users' reach (a clone under /root).
                let built = try NinePProcess.executable()
                if try Posix.run(tree.users[0].command(["/usr/bin/test", "-x", built])).status == 0 {
                    ninep = built
                    copied = nil
                } else {
                    let bin = try TemporaryDirectory(prefix: "ninep-bin")
                    chmod(bin.path, 0o755)
                    try Posix.runOK(["cp", built, bin.path + "/ninep"])
                    ninep = bin.path + "/ninep"
                    copied = bin
                }
            } catch {
                tree.remove()
                throw error
            }
        }

        func remove() {
            tree.remove()
            copied?.remove()
        }

        /// `ninep ARGS` as `user`: exit status and output.
        func run(_ user: TemporaryUser, _ arguments: [String]) async throws -> (status: Int32, output: String) {
            let argv = user.command([ninep] + arguments)
            return try await runBlocking { try Posix.run(argv) }
        }
    }

    /// Serves the tree as root on a unix socket the users may connect to.
    private func withRootExport(_ s: Setup, _ body: (String) async throws -> Void) async throws {
        let sockets = try TemporaryDirectory(prefix: "ninep-identity-sock")
        defer { sockets.remove() }
        chmod(sockets.path, 0o755)
        try await NinePProcess.withServer(["export", s.tree.path], listen: "unix!\(sockets.path)/9p.sock") { server in
            chmod("\(sockets.path)/9p.sock", 0o666)
            try await body("unix!\(sockets.path)/9p.sock")
        }
    }

    @Test func throughARootExportEachUserReadsOnlyTheirOwnAndCreatesAsThemselves() async throws {
        let s = try Setup()
        defer { s.remove() }
        let (alice, bob) = (s.users[0], s.users[1])
        try await withRootExport(s) { address in
            let own = try await s.run(alice, ["read", address, "/\(alice.name)-secret"])
            #expect(own.status == 0 && own.output == "\(alice.name) only\n", "\(own)")
            let other = try await s.run(alice, ["read", address, "/\(bob.name)-secret"])
            #expect(other.status != 0 && other.output.contains("permission denied"), "\(other)")
            for user in s.users {
                let made = try await s.run(user, ["create", address, "/pub/by-\(user.name)"])
                #expect(made.status == 0, "\(made)")
                #expect(s.tree.owner("pub/by-\(user.name)") == user.uid)
            }
        }
    }

    @Test func anAttachNameThatDisagreesWithSOPeercredIsRefusedNamingBoth() async throws {
        let s = try Setup()
        defer { s.remove() }
        let (alice, bob) = (s.users[0], s.users[1])
        try await withRootExport(s) { address in
            let r = try await s.run(alice, ["read", "--uname", bob.name, address, "/\(bob.name)-secret"])
            #expect(r.status != 0, "\(r)")
            #expect(r.output.contains("attach as '\(bob.name)' refused") && r.output.contains("uid \(alice.uid)")
                        && r.output.contains("attach as '\(alice.name)'"), "\(r.output)")
        }
    }

    @Test func loopbackTCPPeersAreKnownFromTheSocketTable() async throws {
        let s = try Setup()
        defer { s.remove() }
        let (alice, bob) = (s.users[0], s.users[1])
        try await NinePProcess.withServer(["export", s.tree.path], listen: "tcp!127.0.0.1!0") { server in
            let address = "\(try #require(server.address))"
            let own = try await s.run(alice, ["read", address, "/\(alice.name)-secret"])
            #expect(own.status == 0 && own.output == "\(alice.name) only\n", "\(own)")
            let lie = try await s.run(alice, ["read", "--uname", bob.name, address, "/\(bob.name)-secret"])
            #expect(lie.status != 0 && lie.output.contains("loopback TCP socket owned by uid \(alice.uid)"), "\(lie)")
        }
    }

    @Test func anExportRunByAnOrdinaryUserServesOnlyThatUser() async throws {
        let s = try Setup()
        defer { s.remove() }
        let (alice, bob) = (s.users[0], s.users[1])
        let argv = alice.command([s.ninep, "export", "--listen", "tcp!127.0.0.1!0", s.tree.path])
        let started = try NinePProcess.start(Array(argv.dropFirst()), executable: argv[0])
        defer { started.stopNow() }
        let said = await started.waitForStandardError(timeout: .seconds(60)) { $0.contains("ninep: serving ") }
        #expect(said, "\(started.standardError)")
        let line = try #require(started.standardError.split(separator: "\n").first { $0.contains("ninep: serving ") })
        let address = String(line[try #require(line.range(of: " on ", options: .backwards)).upperBound...])
        let own = try await s.run(alice, ["read", address, "/\(alice.name)-secret"])
        #expect(own.status == 0 && own.output == "\(alice.name) only\n", "\(own)")
        let other = try await s.run(bob, ["read", address, "/\(bob.name)-secret"])
        #expect(other.status != 0 && other.output.contains("serves only '\(alice.name)'"), "\(other)")
    }

    @Test func anExecServerRunsAsTheClientsUserAndThatIsItsIdentity() async throws {
        let s = try Setup()
        defer { s.remove() }
        let (alice, bob) = (s.users[0], s.users[1])
        let exec = "exec!\(s.ninep) export \(s.tree.path)"
        let own = try await s.run(alice, ["read", exec, "/\(alice.name)-secret"])
        #expect(own.status == 0 && own.output == "\(alice.name) only\n", "\(own)")
        let lie = try await s.run(alice, ["read", "--uname", bob.name, exec, "/\(alice.name)-secret"])
        #expect(lie.status != 0 && lie.output.contains("attach as '\(bob.name)' refused: the client is '\(alice.name)'")
                    && lie.output.contains("uid \(alice.uid)"), "\(lie)")
    }
}
