import Foundation
import Glibc
import Synchronization
import NinePServer
import NinePTesting
import NinePTransport
import NinePWire
import Testing

/// Runs blocking work (waiting for a child process, system calls on a FUSE
/// mount) on a thread of its own, so it never holds one of the few threads
/// of Swift's cooperative pool that every other test needs.
@discardableResult
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// A namespace directory with `ninep srv` running in it, and ninep commands
/// run with `NAMESPACE` pointing there (through env(1), so tests running in
/// parallel never share an environment). `cleanup()` stops every process it
/// started, by PID, and removes the directory.
final class RegistryFixture: Sendable {
    let scratch: TemporaryDirectory
    let ns: String
    let ninep: String
    let started = Mutex<[NinePProcess]>([])

    init() throws {
        scratch = try TemporaryDirectory(prefix: "ninep-srv")
        ns = scratch.path + "/ns"
        ninep = try NinePProcess.executable()
    }

    /// Starts a long-running ninep command and waits for `marker` on its stderr.
    func start(_ arguments: [String], env: [String] = [], waitingFor marker: String) async throws -> NinePProcess {
        let p = try NinePProcess.start(["NAMESPACE=\(ns)"] + env + [ninep] + arguments, executable: "/usr/bin/env")
        started.withLock { $0.append(p) }
        guard await p.waitForStandardError(timeout: .seconds(30), { $0.contains(marker) }) else {
            throw NinePProcessError("\(p.commandLine) did not say '\(marker)'", standardError: p.standardError)
        }
        return p
    }

    /// Starts the registry.
    func startRegistry() async throws -> NinePProcess {
        try await start(["srv"], waitingFor: "serving srv registry on")
    }

    /// Runs a ninep command to completion: (exit status, stdout and stderr).
    func run(_ arguments: [String], env: [String] = []) async throws -> (status: Int32, output: String) {
        let argv = ["/usr/bin/env", "NAMESPACE=\(ns)"] + env + [ninep] + arguments
        return try await offPool { try Posix.run(argv) }
    }

    /// Runs a ninep command that must succeed; returns its output. A
    /// failure carries what the servers started here said on stderr.
    @discardableResult
    func ok(_ arguments: [String], env: [String] = []) async throws -> String {
        let argv = ["/usr/bin/env", "NAMESPACE=\(ns)"] + env + [ninep] + arguments
        do {
            return try await offPool { try Posix.runOK(argv) }
        } catch {
            let servers = started.withLock { $0 }.map { "[\($0.commandLine)]\n\($0.standardError)" }
            throw NinePProcessError("\(error)", standardError: servers.joined(separator: "\n"))
        }
    }

    /// Stops `p` with SIGINT and expects a clean exit.
    func interrupt(_ p: NinePProcess) async throws {
        p.signal(SIGINT)
        guard let status = await p.waitForExit(timeout: .seconds(30)) else {
            throw NinePProcessError("\(p.commandLine) ignored SIGINT", standardError: p.standardError)
        }
        #expect(status == 0, "\(p.commandLine): \(NinePProcess.describe(status: status))\n\(p.standardError)")
    }

    func cleanup() {
        for p in started.withLock({ $0 }) { p.stopNow() }
        scratch.remove()
    }
}


@Suite("ninep srv: the registry as real processes", .serialized)
struct RegistryTests {
    /// The registry's files are its owner's alone, and a post from another
    /// user is refused by SO_PEERCRED even where file modes would let it in.
    @Test func onlyTheOwnerMayUseTheRegistry() async throws {
        let f = try RegistryFixture()
        defer { f.cleanup() }
        _ = try await f.startRegistry()
        try await f.ok(["post", "mine", "tcp!127.0.0.1!1"])
        for (file, mode) in [("ninep-srv", 0o600), ("ninep-srv.fd", 0o600), ("ninep-srv.state", 0o600)] as [(String, mode_t)] {
            #expect(try Posix.stat(f.ns + "/" + file).st_mode & 0o777 == mode, "\(file)")
        }
        #expect(try Posix.stat(f.ns).st_mode & 0o777 == 0o700)
        guard geteuid() == 0, access("/usr/bin/setpriv", X_OK) == 0 else { return }
        // Open the door as wide as file modes go; the registry still says no to uid 65534.
        chmod(f.scratch.path, 0o755)
        chmod(f.ns, 0o755)
        chmod(f.ns + "/ninep-srv", 0o666)
        chmod(f.ns + "/ninep-srv.fd", 0o666)
        let argv = ["/usr/bin/env", "NAMESPACE=\(f.ns)", "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    f.ninep, "post", "theirs", "tcp!127.0.0.1!2"]
        let refused = try await offPool { try Posix.run(argv) }
        #expect(refused.status == 1)
        #expect(refused.output.contains("srv registry of uid 0: uid 65534 may not use it"), "\(refused.output)")
        chmod(f.ns, 0o700)
        let listed = try await f.ok(["srv", "ls"])
        #expect(listed.hasPrefix("mine") && !listed.contains("theirs"), "\(listed)")
    }

    @Test func postLookupDuplicateEntryWithoutClientsAndRemoveOnExit() async throws {
        let f = try RegistryFixture()
        defer { f.cleanup() }
        _ = try await f.startRegistry()
        let ramfs = try await f.start(["ramfs", "--post", "scratch"], waitingFor: "posted as scratch")
        // Held with no client connected: look it up, by srv! name and bare name.
        try await f.ok(["mkdir", "srv!scratch", "d"])
        #expect(try await f.ok(["ls", "scratch", "/"]) == "d\n")
        #expect(try await f.ok(["srv", "ls", "-l"]) == "scratch\tunix!\(f.ns)/scratch\n")
        // plan9port's convention: the service is the socket NS/scratch.
        #expect(try Posix.stat(f.ns + "/scratch").st_mode & S_IFMT == S_IFSOCK)

        let dup = try await f.run(["post", "scratch", "tcp!127.0.0.1!1"])
        #expect(dup.status == 1 && dup.output.contains("service scratch already posted"))
        let missing = try await f.run(["ls", "nosuch", "/"])
        #expect(missing.status == 1 && missing.output.contains("no service named nosuch is posted (ninep srv ls)"))

        try await f.ok(["post", "other", "unix!\(f.ns)/scratch"])
        #expect(try await f.ok(["ls", "srv!other", "/"]) == "d\n")
        try await f.ok(["srv", "rm", "other"])
        #expect(try await f.run(["ls", "other", "/"]).output.contains("no service named other"))

        // A clean exit removes the server's own entry.
        try await f.interrupt(ramfs)
        #expect(try await f.ok(["srv", "ls"]) == "")
    }

    /// Names need a registry: without one, or with a killed one, the
    /// command says there is no registry and how to start one, not that
    /// the name is not posted.
    @Test func aMissingOrDeadRegistryIsNamed() async throws {
        let f = try RegistryFixture()
        defer { f.cleanup() }
        let none = try await f.run(["ls", "db", "/"])
        #expect(none.status == 1)
        #expect(none.output.contains(
            "ninep: cannot dial srv!db: no srv registry at unix!\(f.ns)/ninep-srv (no such file or directory); start one with 'ninep srv'"),
            "\(none.output)")
        let registry = try await f.startRegistry()
        registry.stopNow()
        _ = await registry.waitForExit(timeout: .seconds(30))
        let dead = try await f.run(["ls", "--srvspec", "1", "db", "/"])
        #expect(dead.status == 1)
        #expect(dead.output.contains("ninep: cannot dial srv!db: no srv registry at unix!\(f.ns)/ninep-srv ("), "\(dead.output)")
        #expect(dead.output.contains("); start one with 'ninep srv'"), "\(dead.output)")
    }

    /// A registry that answers an error of its own: `ninep ls` prints it
    /// verbatim, with the request that drew it.
    @Test func aRegistryErrorReachesTheUserVerbatim() async throws {
        let f = try RegistryFixture()
        defer { f.cleanup() }
        try #require(mkdir(f.ns, 0o700) == 0)
        let registry = NinePAddress.unix(path: f.ns + "/ninep-srv")
        let server = try await NinePServer.listen(RefusingWalks(NinePError("srv registry overloaded: try again later")), on: registry)
        let dial = try await f.run(["ls", "db", "/"])
        await server.close()
        #expect(dial.status == 1)
        #expect(dial.output.contains(
            "ninep: cannot dial srv!db: walk /db on srv registry \(registry): srv registry overloaded: try again later"),
            "\(dial.output)")
    }

    @Test func aServerThatDiesTakesItsHeldEntryWithIt() async throws {
        let f = try RegistryFixture()
        defer { f.cleanup() }
        _ = try await f.startRegistry()
        let ramfs = try await f.start(["ramfs", "--post", "crashy"], waitingFor: "posted as crashy")
        #expect(try await f.ok(["srv", "ls"]) == "crashy\n")
        ramfs.stopNow()
        _ = await ramfs.waitForExit(timeout: .seconds(30))
        // The registry sees the poster's connection end and removes the
        // ORCLOSE entry; wait for that (on its own schedule) up to a deadline.
        #expect(try await eventually(.seconds(30)) { try await f.ok(["srv", "ls"]) == "" }, "the dead poster's entry stayed")
    }

    @Test func aHandedOverListenerIsHeldUntilRemoved() async throws {
        let f = try RegistryFixture()
        defer { f.cleanup() }
        _ = try await f.startRegistry()
        let ramfs = try await f.start(["ramfs", "--post", "held", "--hand-over"], waitingFor: "serving ramfs")
        try await f.ok(["mkdir", "held", "d"])
        #expect(try await f.ok(["srv", "ls", "-l"]) == "held\tunix!\(f.ns)/held\n")
        // The server dies; the registry still holds the socket, so the entry
        // stays, marked gone, until it is removed.
        ramfs.stopNow()
        _ = await ramfs.waitForExit(timeout: .seconds(30))
        #expect(try await f.ok(["srv", "ls", "-l"]) == "held\tunix!\(f.ns)/held gone\n")
        let dial = try await f.run(["ls", "held", "/"])
        #expect(dial.status == 1 && dial.output.contains("service held is gone"))
        try await f.ok(["srv", "rm", "held"])
        #expect(try await f.ok(["srv", "ls"]) == "")
        #expect(access(f.ns + "/held", F_OK) != 0)
        // A second hand-over of a name in use is refused with the registry's reason.
        try await f.ok(["post", "taken", "tcp!127.0.0.1!1"])
        let refused = try await f.run(["ramfs", "--post", "taken", "--hand-over"])
        #expect(refused.status == 1 && refused.output.contains("service taken already posted"))
    }

    @Test func cloneNestsAndSrvspecRootsNames() async throws {
        let f = try RegistryFixture()
        defer { f.cleanup() }
        _ = try await f.startRegistry()
        _ = try await f.start(["ramfs", "--listen", "unix!\(f.scratch.path)/ram.sock"], waitingFor: "serving ramfs")
        try await f.ok(["mkdir", "unix!\(f.scratch.path)/ram.sock", "here"])
        #expect(try await f.ok(["srv", "clone"]) == "1\n")
        #expect(try await f.ok(["srv", "clone", "1"]) == "1/1\n")
        #expect(try await f.ok(["srv", "clone"]) == "2\n")
        try await f.ok(["post", "1/1/ram", "unix!\(f.scratch.path)/ram.sock"])
        #expect(try await f.ok(["ls", "srv!1/1/ram", "/"]) == "here\n")
        #expect(try await f.ok(["ls", "ram", "/"], env: ["NINEP_SRVSPEC=1/1"]) == "here\n")
        #expect(try await f.ok(["ls", "--srvspec", "1/1", "ram", "/"]) == "here\n")
        #expect(try await f.ok(["ls", "srv!/1/1/ram", "/"], env: ["NINEP_SRVSPEC=2"]) == "here\n")
        #expect(try await f.ok(["srv", "ls"]) == "1/\n1/1/\n1/1/ram\n2/\n")
    }

    @Test func restartDropsAndReportsAStaleEntry() async throws {
        let f = try RegistryFixture()
        defer { f.cleanup() }
        let registry = try await f.startRegistry()
        _ = try await f.start(["ramfs", "--post", "live"], waitingFor: "posted as live")
        let doomed = try await f.start(["ramfs", "--listen", "tcp!127.0.0.1!0"], waitingFor: "serving ramfs")
        let address = try #require(doomed.standardError.split(separator: " ").last.map { $0.trimmingCharacters(in: .newlines) })
        try await f.ok(["post", "doomed", address])
        doomed.stopNow()
        _ = await doomed.waitForExit(timeout: .seconds(30))
        // Dead before the restart: listed as gone.
        #expect(try await f.ok(["srv", "ls"]) == "doomed (gone)\nlive\n")
        try await f.interrupt(registry)

        let again = try await f.startRegistry()
        #expect(again.standardError.contains("dropped stale entry doomed (\(address)): nothing answers there"))
        #expect(try await f.ok(["srv", "ls"]) == "live\n")
        #expect(try await f.ok(["ls", "live", "/"]) == "")
    }

    /// A handed-over socket cannot outlive the registry process: after a
    /// restart, the registry says what became of each held entry.
    @Test func restartSaysWhatBecameOfHandedOverEntries() async throws {
        let f = try RegistryFixture()
        defer { f.cleanup() }
        let registry = try await f.startRegistry()
        let kept = try await f.start(["ramfs", "--post", "kept", "--hand-over"], waitingFor: "serving ramfs")
        let lost = try await f.start(["ramfs", "--post", "lost", "--hand-over"], waitingFor: "serving ramfs")
        lost.stopNow()
        _ = await lost.waitForExit(timeout: .seconds(30))
        #expect(try await f.ok(["srv", "ls"]) == "kept\nlost (gone)\n")
        try await f.interrupt(registry)

        let again = try await f.startRegistry()
        #expect(again.standardError.contains(
            "dropped stale entry lost (unix!\(f.ns)/lost): nothing answers there; removed its socket file, which the previous registry held"),
            "\(again.standardError)")
        #expect(again.standardError.contains("entry kept (unix!\(f.ns)/kept) is no longer held"), "\(again.standardError)")
        #expect(access(f.ns + "/lost", F_OK) != 0, "the socket file of the dropped entry is left behind")
        #expect(try await f.ok(["srv", "ls"]) == "kept\n")
        try await f.ok(["mkdir", "kept", "d"])
        // No longer held by anyone but its server: when that dies, the entry shows as gone.
        kept.stopNow()
        _ = await kept.waitForExit(timeout: .seconds(30))
        #expect(try await f.ok(["srv", "ls"]) == "kept (gone)\n")
    }

    /// Many `ninep post`, lookups by name and `ninep srv rm` processes at
    /// once: every name ends up exactly as its last command left it.
    @Test func manyConcurrentPosterLookupAndRemoverProcesses() async throws {
        let f = try RegistryFixture()
        defer { f.cleanup() }
        _ = try await f.startRegistry()
        let address = "unix!\(f.scratch.path)/ram.sock"
        _ = try await f.start(["ramfs", "--listen", address], waitingFor: "serving ramfs")
        try await f.ok(["mkdir", address, "here"])
        let workers = 8, rounds = 4
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<workers {
                group.addTask {
                    for r in 0..<rounds {
                        let name = "s\(w)-\(r)"
                        try await f.ok(["post", name, address])
                        let listing = try await f.ok(["ls", name, "/"])
                        guard listing == "here\n" else { throw NinePProcessError("ls \(name) / said '\(listing)'", standardError: "") }
                        if r % 2 == 1 { try await f.ok(["srv", "rm", name]) }
                    }
                }
            }
            try await group.waitForAll()
        }
        let expected = (0..<workers).flatMap { w in stride(from: 0, to: rounds, by: 2).map { "s\(w)-\($0)" } }.sorted()
        #expect(try await f.ok(["srv", "ls"]) == expected.map { $0 + "\n" }.joined())
    }
}

@Suite("ninep srv with FUSE mounts", .serialized, .enabled(if: fuseOrWarn()))
struct RegistryMountTests {
    /// `ninep mount -f ADDR mnt`, returning once mounted.
    func mount(_ f: RegistryFixture, _ address: String, at mountpoint: String) async throws -> NinePProcess {
        #expect(mkdir(mountpoint, 0o755) == 0)
        return try await f.start(["mount", "-f", address, mountpoint], waitingFor: "mounted ")
    }

    func unmount(_ f: RegistryFixture, _ p: NinePProcess, _ mountpoint: String) async throws {
        try await MountFixture.unmount(mountpoint)
        #expect(await p.waitForExit(timeout: .seconds(30)) == 0)
    }

    @Test func mountAServiceByName() async throws {
        let f = try RegistryFixture()
        defer {
            _ = try? Posix.run(["fusermount3", "-u", "-z", f.scratch.path + "/mnt"])
            f.cleanup()
        }
        _ = try await f.startRegistry()
        _ = try await f.start(["ramfs", "--post", "scratch"], waitingFor: "posted as scratch")
        let mnt = f.scratch.path + "/mnt"
        let m = try await mount(f, "scratch", at: mnt)
        try await offPool { try Posix.writeFile(mnt + "/hello", Array("hi\n".utf8)) }
        #expect(try await f.ok(["read", "scratch", "hello"]) == "hi\n")
        try await unmount(f, m, mnt)
    }

    @Test func theRegistryMountedAndListedWithLs() async throws {
        let f = try RegistryFixture()
        defer {
            _ = try? Posix.run(["fusermount3", "-u", "-z", f.scratch.path + "/srv"])
            f.cleanup()
        }
        _ = try await f.startRegistry()
        _ = try await f.start(["ramfs", "--post", "live"], waitingFor: "posted as live")
        try await f.ok(["post", "dead", "tcp!127.0.0.1!1"])
        let mnt = f.scratch.path + "/srv"
        let m = try await mount(f, "unix!\(f.ns)/ninep-srv", at: mnt)

        let listing = try await offPool { try Posix.runOK(["ls", "-l", mnt]) }
        let dead = try #require(listing.split(separator: "\n").first { $0.hasSuffix(" dead") })
        #expect(dead.hasPrefix("----------"), "\(listing)")
        let live = try #require(listing.split(separator: "\n").first { $0.hasSuffix(" live") })
        #expect(live.hasPrefix("-rw-rw-rw-"), "\(listing)")
        #expect(try await offPool { try Posix.runOK(["cat", mnt + "/dead"]) } == "tcp!127.0.0.1!1 gone\n")

        // Creating a file and writing an address into it posts; rm releases.
        try await offPool { try Posix.runOK(["sh", "-c", "echo unix!\(f.ns)/live > \(mnt)/alias"]) }
        #expect(try await f.ok(["srv", "ls", "-l"]).contains("alias\tunix!\(f.ns)/live\n"))
        let again = try await offPool { try Posix.run(["sh", "-c", "echo tcp!127.0.0.1!2 >> \(mnt)/alias"]) }
        #expect(again.status != 0)
        try await offPool { try Posix.runOK(["rm", mnt + "/alias"]) }
        #expect(try await f.ok(["srv", "ls"]) == "dead (gone)\nlive\n")
        try await unmount(f, m, mnt)
    }

    /// `ninep ramfs --mount --post` is `serveMount` with a post name: the
    /// post goes through the registry like every `--post`, the service is
    /// mounted by name elsewhere, and SIGINT (cancelling `serveMount`)
    /// takes the mount and the entry down.
    @Test func serveMountPostsInTheRegistryAndItsEndTakesBothDown() async throws {
        let f = try RegistryFixture()
        let own = f.scratch.path + "/own", other = f.scratch.path + "/other"
        defer {
            for m in [other, own] where MountFixture.isMounted(m) { _ = try? Posix.run(["fusermount3", "-u", "-z", m]) }
            f.cleanup()
        }
        _ = try await f.startRegistry()
        #expect(mkdir(own, 0o755) == 0)
        let ramfs = try await f.start(["ramfs", "--mount", own, "--post", "both"], waitingFor: "ninep: mounted ")
        #expect(ramfs.standardError.contains("ninep: posted as both in the srv registry"))
        #expect(try await f.ok(["srv", "ls", "-l"]) == "both\tunix!\(f.ns)/both\n")
        try await offPool { try Posix.writeFile(own + "/hello", Array("hi\n".utf8)) }
        let m = try await mount(f, "both", at: other)
        #expect(try await offPool { try Posix.readFile(other + "/hello") } == Array("hi\n".utf8))
        try await unmount(f, m, other)

        try await f.interrupt(ramfs)
        #expect(!MountFixture.isMounted(own))
        #expect(try await f.ok(["srv", "ls"]) == "")
        #expect(access(f.ns + "/both", F_OK) != 0, "the socket NS/both is left behind")
    }

    /// `ninep file2chan --post ctl` places the file itself in the registry,
    /// as Inferno's file2chan places files in #s: in a mount of the
    /// registry, `cat` and `echo` reach the program, its errors reach `cat`,
    /// and Ctrl-C on a blocked `cat` cancels the program's request.
    @Test func aFile2ChanFileInTheRegistry() async throws {
        let f = try RegistryFixture()
        let mnt = f.scratch.path + "/srv", dir = f.scratch.path
        defer {
            if MountFixture.isMounted(mnt) { _ = try? Posix.run(["fusermount3", "-u", "-z", mnt]) }
            f.cleanup()
        }
        _ = try await f.startRegistry()
        let read = """
            case $(cat \(dir)/mode 2>/dev/null) in
            block) echo $$ > \(dir)/pid.tmp; mv \(dir)/pid.tmp \(dir)/pid; exec sleep 300;;
            fail) echo 'no gizmo here' >&2; exit 1;;
            *) echo hello;;
            esac
            """
        let program = try await f.start([
            "file2chan", "--post", "ctl", "f", "--read", read,
            "--write", "cat >> \(dir)/written; echo $NINEP_OFFSET >> \(dir)/offsets",
        ], waitingFor: "posted as ctl")
        #expect(try await f.ok(["srv", "ls"]) == "ctl (file)\n")
        let dial = try await f.run(["ls", "ctl", "/"])
        #expect(dial.status == 1 && dial.output.contains("ctl is a file served by a program (file2chan), not a service"))

        let m = try await mount(f, "unix!\(f.ns)/ninep-srv", at: mnt)
        #expect(try await offPool { try Posix.runOK(["cat", mnt + "/ctl"]) } == "hello\n")
        try await offPool { try Posix.runOK(["sh", "-c", "echo hi > \(mnt)/ctl"]) }
        #expect(try String(decoding: Posix.readFile(dir + "/written"), as: UTF8.self) == "hi\n")
        #expect(try String(decoding: Posix.readFile(dir + "/offsets"), as: UTF8.self) == "0\n")

        // An error reply: cat fails; over 9P the text arrives verbatim.
        try Posix.writeFile(dir + "/mode", Array("fail\n".utf8))
        #expect(try await offPool { try Posix.run(["cat", mnt + "/ctl"]) }.status != 0)
        let failed = try await f.run(["read", "unix!\(f.ns)/ninep-srv", "ctl"])
        #expect(failed.status == 1 && failed.output.contains("no gizmo here"), "\(failed.output)")

        // Ctrl-C on a blocked cat: the flush reaches the program, which stops the command.
        try Posix.writeFile(dir + "/mode", Array("block\n".utf8))
        let cat = try NinePProcess.start([mnt + "/ctl"], executable: "/bin/cat")
        defer { cat.stopNow() }
        let pidText = try await waitForFile(dir + "/pid")
        let pid = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(cat.isRunning, "cat returned before the program answered")
        cat.signal(SIGINT)
        #expect(await cat.waitForExit(timeout: .seconds(30)) != nil)
        #expect(await eventually(.seconds(30)) { kill(pid, 0) != 0 && errno == ESRCH }, "the read command (pid \(pid)) was not cancelled")
        // A reader that survives Ctrl-C sees its read fail with EINTR.
        try await expectInterruptedRead(mnt + "/ctl", pidFile: dir + "/pid")

        // The program's end takes its entry with it.
        try await f.interrupt(program)
        #expect(try await f.ok(["srv", "ls"]) == "")
        try await unmount(f, m, mnt)
    }
}
