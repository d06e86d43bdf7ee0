import Dispatch
import Foundation
import Glibc
import NinePFuse
import NinePServer
import NinePTesting
import NinePWire
import Synchronization
import Testing

/// A name service that answers for one name only when the test lets it
/// (an LDAP server that went quiet), and at once for every other name.
final class GatedResolver: IdentityResolver {
    let slowName: String
    static let slowID: UInt32 = 4242
    private let gate = DispatchSemaphore(value: 0)
    /// Signalled when a lookup of the slow name starts waiting.
    let entered = DispatchSemaphore(value: 0)
    let slowLookups = Atomic<Int>(0)

    init(slowName: String) { self.slowName = slowName }

    func release() { gate.signal() }

    private func answer(_ name: String, _ system: (String) -> UInt32?) -> UInt32? {
        guard name == slowName else { return system(name) }
        slowLookups.add(1, ordering: .sequentiallyConsistent)
        entered.signal()
        gate.wait()
        gate.signal()  // and every later lookup
        return Self.slowID
    }

    func userID(named name: String) -> UInt32? { answer(name) { SystemIdentityResolver().userID(named: $0) } }
    func groupID(named name: String) -> UInt32? { answer(name) { SystemIdentityResolver().groupID(named: $0) } }
}

@Suite("Names resolved off the event loop", .serialized, .enabled(if: MountedTree.fuseAvailable))
struct IdentityResolverTests {
    /// A stat whose owner the name service is slow to resolve waits for it;
    /// the mount (whose FUSE requests and 9P replies share one event loop)
    /// answers every other request meanwhile, and the stat ends with the
    /// resolved id, the name asked of the service once.
    @Test("a slow name service holds up only the stats that need it")
    func slowResolverBlocksNothingElse() async throws {
        let fs = RamFS()
        // s/slow is owned by "slowpoke"; its group is s's, which resolves at
        // once. In s of its own: the kernel holds the directory's lock while
        // a lookup in it waits for its answer.
        let me = RamFS.currentUser()
        let s = try fs.tree.root.create(named: "s", uid: me, perm: FileMode(permissions: 0o755, flags: .dir))
        _ = try s.create(named: "slow", uid: "slowpoke", perm: FileMode(permissions: 0o644))
        _ = try fs.tree.root.create(named: "other", uid: me, perm: FileMode(permissions: 0o644))
        _ = try fs.tree.root.create(named: "d", uid: me, perm: FileMode(permissions: 0o755, flags: .dir))
        let resolver = GatedResolver(slowName: "slowpoke")
        try await withMount({ try await .serving(fs, identityResolver: resolver) }) { tree in
            defer { resolver.release() }  // a failed expectation must not leave the stat blocked
            let path = tree.path("s/slow")
            let owner = Task {
                try await runBlocking { () -> (Int32, uid_t) in
                    var st = stat()
                    let rc = stat(path, &st)
                    return (rc, st.st_uid)
                }
            }
            #expect(try await runBlocking { resolver.entered.wait(timeout: .now() + 30) } == .success, "the name service was never asked")
            // Meanwhile: other lookups, stats, creates, writes, reads and
            // listings are answered. Should they wait for the name service
            // (resolved on the event loop), a watchdog lets it answer after
            // 30 s, so that the test fails instead of hanging.
            let watchdog = Task {
                try await Task.sleep(for: .seconds(30))  // an upper bound: "never", not "late"
                resolver.release()
            }
            let root = tree.mountpoint
            try await runBlocking {
                var st = stat()
                #expect(stat(root + "/other", &st) == 0)
                #expect(stat(root, &st) == 0)
                #expect(try Set(FileManager.default.contentsOfDirectory(atPath: root)) == ["s", "other", "d"])
                try "meanwhile".write(toFile: root + "/d/new", atomically: false, encoding: .utf8)
                #expect(try String(contentsOfFile: root + "/d/new", encoding: .utf8) == "meanwhile")
                #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/d") == ["new"])
                #expect(errnoOf { access(root + "/missing", F_OK) } == ENOENT)
            }
            watchdog.cancel()
            #expect(!(await watchdog.result).isSuccess, "other requests waited for the name service")

            resolver.release()
            let (rc, uid) = try await owner.value
            #expect(rc == 0 && uid == GatedResolver.slowID)
            #expect(resolver.slowLookups.load(ordering: .sequentiallyConsistent) == 1, "slowpoke asked of the name service more than once")
        }
    }
}

extension Result {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
