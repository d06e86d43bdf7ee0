import Glibc
import NIOCore
import NinePTesting
import NinePTransport
import NinePWire
import Synchronization
import Testing

/// `ninep export` as a real process under hostile load: thousands of idle
/// connections, stalled half-messages, floods of connections and attaches,
/// clients that pipeline reads and never read the replies, a client that
/// holds fids until descriptors run out. The server must stay within its
/// caps and its memory budget (RSS from /proc), never spin (its CPU time
/// over the window), and keep answering a well-behaved client throughout.
/// Timeouts are short and every wait is for the event itself (a connection
/// closed, a reply) with a generous bound.
@Suite("limits under hostile load", .serialized, .timeLimit(.minutes(3)))
struct LoadTests {
    /// An export of a scratch directory holding `small` ("hello") and,
    /// if asked, `big` (8 MiB), on TCP loopback.
    final class Export: Sendable {
        let scratch: TemporaryDirectory
        let server: NinePProcess
        let host: String
        let port: Int

        init(_ options: [String], big: Bool = false, descriptorLimit: Int? = nil) async throws {
            let scratch = try TemporaryDirectory(prefix: "ninep-load")
            try Posix.writeFile(scratch.path + "/small", Array("hello".utf8))
            if big { try Posix.writeFile(scratch.path + "/big", [UInt8](repeating: 0x5a, count: 8 << 20)) }
            var executable: String?
            if let descriptorLimit {
                // The server raises its soft limit to the hard one: lower both, in the child only.
                let wrapper = scratch.path + "/limited.sh"
                let ninep = try NinePProcess.executable()
                try Posix.writeFile(wrapper, Array("#!/bin/sh\nulimit -n \(descriptorLimit) || exit 1\nexec \(ninep) \"$@\"\n".utf8))
                chmod(wrapper, 0o755)
                executable = wrapper
            }
            let server = try await NinePProcess.serve(
                ["export", scratch.path + "/"] + options + ["--max-requests", "100000"], listen: "tcp!127.0.0.1!0",
                executable: executable)
            guard case .tcp(let host, let port) = server.address else { throw ConformanceFailure("serve", "not TCP: \(String(describing: server.address))") }
            self.scratch = scratch
            self.server = server
            self.host = host
            self.port = port
        }

        var status: ProcessStatus {
            get throws {
                guard let s = ProcessStatus.of(server.pid) else { throw ConformanceFailure("status", "server gone: \(server.standardError)") }
                return s
            }
        }

        func stop() async throws {
            defer { scratch.remove() }
            #expect(try await server.stop() == 0, "\(server.standardError)")
        }

        func cleanup() {
            server.stopNow()
            scratch.remove()
        }
    }

    /// A client that reads its replies: version, attach, open `small`; each
    /// `check` reads it back within a bound that tells "on time" from "never".
    struct WellBehaved {
        let client: RawNinePClient

        init(_ export: Export) async throws {
            client = try await RawNinePClient.connect(to: .tcp(host: export.host, port: export.port), timeout: .seconds(30))
            _ = try await client.version()
            _ = try await client.attach(fid: Fid(0))
            _ = try await client.call(.twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: ["small"])))
            _ = try await client.call(.topen(Topen(fid: Fid(1), mode: .read)))
        }

        func check() async throws {
            let reply = try await client.call(.tread(Tread(fid: Fid(1), offset: 0, count: 100)))
            guard case .rread(let r) = reply else { throw RawNinePClientError.unexpected(reply) }
            #expect(String(buffer: r.data) == "hello")
        }
    }

    /// Raises this process's soft descriptor limit to its hard limit.
    private static func raiseOwnDescriptorLimit(atLeast needed: Int) throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        guard Int(limit.rlim_cur) >= needed else {
            throw ConformanceFailure("setrlimit", "this test needs \(needed) descriptors; the hard limit is \(limit.rlim_max)")
        }
    }

    /// A TCP socket to the export from `source` (another loopback address,
    /// to be another peer), connected, blocking.
    private static func socket(to export: Export, from source: String? = nil) throws -> CInt {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ConformanceFailure("socket", String(cString: strerror(errno))) }
        if let source {
            let local = try SocketAddress(ipAddress: source, port: 0)
            guard local.withSockAddr({ bind(fd, $0, socklen_t($1)) }) == 0 else {
                close(fd)
                throw ConformanceFailure("bind \(source)", String(cString: strerror(errno)))
            }
        }
        let remote = try SocketAddress(ipAddress: export.host, port: export.port)
        guard remote.withSockAddr({ connect(fd, $0, socklen_t($1)) }) == 0 else {
            close(fd)
            throw ConformanceFailure("connect", String(cString: strerror(errno)))
        }
        return fd
    }

    /// Opens `count` blocking TCP connections to the export and sends
    /// `bytes` on each. For a thread of its own (`offPool`).
    private static func openRaw(to export: Export, count: Int, sending bytes: [UInt8] = []) throws -> [CInt] {
        var fds: [CInt] = []
        do {
            for _ in 0..<count {
                let fd = try socket(to: export)
                fds.append(fd)
                if !bytes.isEmpty {
                    guard bytes.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
                        throw ConformanceFailure("send", String(cString: strerror(errno)))
                    }
                }
            }
        } catch {
            for fd in fds { close(fd) }
            throw error
        }
        return fds
    }

    /// Waits until the server has closed each of `fds` (EOF or reset), or
    /// `timeout` passes; closes them all and returns how many the server closed.
    private static func waitForServerClose(_ fds: [CInt], timeout: Duration) -> Int {
        let deadline = ContinuousClock.now + timeout
        var open = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        var closed = 0
        var scratch = [UInt8](repeating: 0, count: 512)
        while !open.isEmpty && ContinuousClock.now < deadline {
            guard poll(&open, nfds_t(open.count), 200) > 0 else { continue }
            var still: [pollfd] = []
            for p in open {
                guard p.revents != 0 else { still.append(p); continue }
                let n = scratch.withUnsafeMutableBytes { recv(p.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n > 0 || (n < 0 && errno == EAGAIN) {
                    still.append(pollfd(fd: p.fd, events: p.events, revents: 0))
                } else {
                    closed += 1
                    close(p.fd)
                }
            }
            open = still
        }
        for p in open { close(p.fd) }
        return closed
    }

    /// Sends what the socket takes without blocking; returns the bytes sent.
    @discardableResult
    private static func sendSome(_ fd: CInt, _ fcalls: [Fcall]) -> Int {
        var buffer = ByteBuffer()
        for f in fcalls { f.encode(into: &buffer, version: .ninep2000) }
        let bytes = Array(buffer.readableBytesView)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
        return sent
    }

    /// Sends one request on a blocking socket and reads its reply.
    private static func exchange(_ fd: CInt, _ fcall: Fcall) throws -> Message {
        var out = ByteBuffer()
        fcall.encode(into: &out, version: .ninep2000)
        let bytes = Array(out.readableBytesView)
        guard bytes.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw ConformanceFailure("send", String(cString: strerror(errno)))
        }
        var reply = ByteBuffer()
        let decoder = FcallDecoder(maxMessageSize: 1 << 16, direction: .replies)
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let f = try decoder.decode(buffer: &reply) { return f.message }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw ConformanceFailure("recv", n == 0 ? "connection closed" : String(cString: strerror(errno))) }
            reply.writeBytes(chunk[..<n])
        }
    }

    /// CPU seconds the server spent over a window, against the wall time.
    private struct CPUWindow {
        let pid: Int32
        let cpu: Double
        let start = ContinuousClock.now

        init(_ export: Export) throws {
            pid = export.server.pid
            cpu = try export.status.cpuSeconds
        }

        /// (CPU seconds, wall seconds).
        func end() -> (Double, Double) {
            let elapsed = ContinuousClock.now - start
            let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return ((ProcessStatus.of(pid)?.cpuSeconds ?? cpu) - cpu, wall)
        }
    }

    // MARK: Idle and stalled

    @Test func idleConnectionsAndStalledHalfMessagesAreClosed() async throws {
        try Self.raiseOwnDescriptorLimit(atLeast: 2_600)
        let export = try await Export([
            "--idle-timeout", "30", "--stall-timeout", "2", "--max-connections", "2400", "--max-connections-per-peer", "2400",
        ])
        defer { export.cleanup() }
        let good = try await WellBehaved(export)
        try await good.check()
        let before = try export.status

        // 2,000 idle connections, then 200 that send 7 bytes of a 19-byte Tversion and stall:
        // plain sockets on a thread of their own, so that this process's event loops stay free.
        var half = ByteBuffer()
        Fcall(tag: .notag, .tversion(Tversion(msize: 8192, version: NineP.version2000))).encode(into: &half, version: .ninep2000)
        let prefix = Array(half.readableBytesView.prefix(7))
        let idle = try await offPool { try Self.openRaw(to: export, count: 2_000) }
        let stalled = try await offPool { try Self.openRaw(to: export, count: 200, sending: prefix) }
        let all = idle + stalled
        let window = try CPUWindow(export)
        // Every idle connection is accepted (within the cap of 2,400) and holds its descriptor. The stalled
        // ones may already be closed by then on a busy machine (2 s); that every one of them was accepted
        // shows below, where each sees the server close it.
        #expect(await eventually(.seconds(30)) { (try? export.status.descriptors) ?? 0 >= before.descriptors + 2_000 })
        let during = try export.status
        try await good.check()

        // Each is closed by the server: the stalled ones after 2 s, the idle ones after 30 s.
        let closed = try await offPool { Self.waitForServerClose(all, timeout: .seconds(90)) }
        #expect(closed == all.count)
        try await good.check()
        let (cpu, wall) = window.end()
        #expect(cpu < wall * 0.5, "the server spent \(cpu) s of CPU in \(wall) s")
        #expect(await eventually(.seconds(30)) { (try? export.status.descriptors) ?? 0 <= before.descriptors + 4 })
        let after = try export.status
        print("load: idle+stalled: before \(before); with 2,200 connections \(during); after \(after); CPU \(String(format2: cpu)) s in \(String(format2: wall)) s")
        let log = export.server.standardError
        #expect(log.contains("closing: message incomplete after 2 s"))
        #expect(log.contains("closing: idle for 30 s"))
        await good.client.close()
        try await export.stop()
    }

    // MARK: Floods

    @Test func aFloodOfConnectionsAndAttachesFromOneAddressIsCapped() async throws {
        let export = try await Export(["--max-connections-per-peer", "16", "--max-fids", "100"])
        defer { export.cleanup() }
        let good = try await WellBehaved(export)
        let before = try export.status
        let window = try CPUWindow(export)

        // 64 connections from 127.0.0.2: 16 are served, 48 told why not.
        let results = try await withThrowingTaskGroup(of: (RawNinePClient, String).self) { group in
            for _ in 0..<64 {
                let fd = try Self.socket(to: export, from: "127.0.0.2")
                group.addTask {
                    let c = try await RawNinePClient.connect(descriptor: fd, timeout: .seconds(30))
                    do {
                        _ = try await c.version()
                        return (c, "served")
                    } catch RawNinePClientError.unexpected(.rerror(let e)) {
                        return (c, e.ename)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let served = results.filter { $0.1 == "served" }.map(\.0)
        let refusals = results.filter { $0.1 != "served" }.map(\.1)
        #expect(served.count == 16)
        #expect(refusals.count == 48)
        #expect(refusals.allSatisfy { $0 == "too many connections from 127.0.0.2 (limit 16)" }, "\(Set(refusals))")
        try await good.check()

        // Each served connection floods 1,000 attaches: 100 fids each, the rest refused.
        for c in served {
            let flood = try await c.pipeline(count: 1_000, window: 200) { i, _ in
                .tattach(Tattach(fid: Fid(UInt32(i)), afid: .nofid, uname: LocalUser.name(of: geteuid()), aname: ""))
            }
            #expect(flood.errors == 900)
            #expect(flood.firstError == "too many fids")
            try await good.check()
        }
        let during = try export.status
        let (cpu, wall) = window.end()
        #expect(cpu < wall * 0.9, "the server spent \(cpu) s of CPU in \(wall) s")
        for c in results.map(\.0) { await c.close() }
        #expect(await eventually(.seconds(30)) { (try? export.status.descriptors) ?? 0 <= before.descriptors + 4 })
        try await good.check()
        print("load: flood: before \(before); with 16 connections × 100 fids \(during); CPU \(String(format2: cpu)) s in \(String(format2: wall)) s")
        let log = export.server.standardError
        #expect(log.contains("refused connection from 127.0.0.2:"))
        #expect(log.contains("too many fids (limit 100)"))
        await good.client.close()
        try await export.stop()
    }

    // MARK: Replies never read

    @Test func clientsThatNeverReadTheirRepliesStayWithinTheBudget() async throws {
        let mib = 1 << 20
        let export = try await Export([
            "--max-msize", "\(8 * mib + 24)", "--reply-budget", "\(32 * mib)", "--server-reply-budget", "\(64 * mib)",
        ], big: true)
        defer { export.cleanup() }
        let good = try await WellBehaved(export)
        try await good.check()
        let before = try export.status

        // Two clients with msize 8 MiB pipeline 10,000 Treads of 8 MiB each and never read.
        var hostile: [CInt] = []
        defer { for fd in hostile { close(fd) } }
        for _ in 0..<2 {
            let fd = try Self.socket(to: export)
            hostile.append(fd)
            // The session is set up one reply at a time (these replies it reads)...
            for fcall in [
                Fcall(tag: .notag, .tversion(Tversion(msize: UInt32(8 * mib + 24), version: NineP.version2000))),
                Fcall(tag: Tag(60_001), .tattach(Tattach(fid: Fid(0), afid: .nofid, uname: LocalUser.name(of: geteuid()), aname: ""))),
                Fcall(tag: Tag(60_002), .twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: ["big"]))),
                Fcall(tag: Tag(60_003), .topen(Topen(fid: Fid(1), mode: .read))),
            ] {
                let reply = try Self.exchange(fd, fcall)
                if case .rerror(let e) = reply { throw ConformanceFailure("\(fcall)", e.ename) }
            }
            // ...then the reads go out, as many as the socket takes, and no reply is ever read.
            let reads = (1...10_000).map { Fcall(tag: Tag(UInt16($0)), .tread(Tread(fid: Fid(1), offset: 0, count: UInt32(8 * mib)))) }
            Self.sendSome(fd, reads)
        }
        // The server fills its budget (64 MiB, plus one read per connection)...
        #expect(await eventually(.seconds(60)) { (try? export.status.residentBytes) ?? 0 >= before.residentBytes + 48 * mib },
                "\((try? export.status).map { "\($0)" } ?? "server gone")")
        // ...and goes no further, while the well-behaved client is answered.
        let window = try CPUWindow(export)
        // A window of two seconds (and at least 40 round trips) of service under that load.
        var peak = 0
        var checks = 0
        while checks < 40 || ContinuousClock.now < window.start + .seconds(2) {
            try await good.check()
            peak = max(peak, try export.status.residentBytes)
            checks += 1
        }
        let (cpu, wall) = window.end()
        let bound = before.residentBytes + (64 + 2 * 8 + 64) * mib
        #expect(peak <= bound, "peak RSS \(peak >> 20) MiB, bound \(bound >> 20) MiB")
        #expect(cpu < wall * 0.5 + 0.5, "the server spent \(cpu) s of CPU in \(wall) s")

        // When they go, the memory comes back.
        for fd in hostile { close(fd) }
        hostile.removeAll()
        #expect(await eventually(.seconds(30)) { (try? export.status.residentBytes) ?? .max <= before.residentBytes + 24 * mib },
                "\((try? export.status).map { "\($0)" } ?? "server gone")")
        try await good.check()
        let after = try export.status
        print("load: unread replies: before \(before); peak RSS \(peak >> 20) MiB (bound \(bound >> 20)); after \(after); CPU \(String(format2: cpu)) s in \(String(format2: wall)) s")
        await good.client.close()
        try await export.stop()
    }

    // MARK: Descriptors

    @Test func fidsAndConnectionsCannotExhaustDescriptors() async throws {
        // Soft and hard limit 512 in the server: DescriptorPlan gives 192 connections and 96 fids.
        let export = try await Export(["--idle-timeout", "0", "--max-connections-per-peer", "1000"], descriptorLimit: 512)
        defer { export.cleanup() }
        let good = try await WellBehaved(export)
        let window = try CPUWindow(export)
        let address = NinePAddress.tcp(host: export.host, port: export.port)

        // One client walks fids until the server says no.
        let hog = try await RawNinePClient.connect(to: address, timeout: .seconds(30))
        _ = try await hog.version()
        _ = try await hog.attach(fid: Fid(0))
        var held = 1
        var refusal = ""
        for i in 1..<10_000 {
            let reply = try await hog.call(.twalk(Twalk(fid: Fid(0), newfid: Fid(UInt32(i)), wname: ["small"])))
            if case .rerror(let e) = reply {
                refusal = e.ename
                break
            }
            held += 1
        }
        #expect(refusal == "too many fids on this server")
        #expect(held >= 90 && held <= 96, "held \(held) fids")
        try await good.check()

        // Then 400 connections: the cap (192) is told, not hung on.
        var connections: [RawNinePClient] = []
        var refused: [String] = []
        for _ in 0..<400 {
            let c = try await RawNinePClient.connect(to: address, timeout: .seconds(30))
            connections.append(c)
            do {
                _ = try await c.version()
            } catch RawNinePClientError.unexpected(.rerror(let e)) {
                refused.append(e.ename)
            }
        }
        #expect(refused.count == 400 - (192 - 2), "\(refused.count) refused")
        #expect(Set(refused) == ["server busy: too many connections (limit 192)"])
        // A served newcomer gets a clear answer to attach, not silence.
        if let newcomer = connections.first {
            let reply = try await newcomer.call(.tattach(Tattach(fid: Fid(0), afid: .nofid, uname: LocalUser.name(of: geteuid()), aname: "")))
            #expect(reply == .rerror(Rerror(ename: "too many fids on this server")))
        }
        try await good.check()
        let during = try export.status
        #expect(during.descriptors < 512)
        let (cpu, wall) = window.end()
        #expect(cpu < wall * 0.5 + 0.5, "the server spent \(cpu) s of CPU in \(wall) s")
        for c in connections { await c.close() }
        await hog.close()
        try await good.check()
        print("load: descriptors (limit 512): \(held) fids, \(refused.count) connections refused; \(during); CPU \(String(format2: cpu)) s in \(String(format2: wall)) s")
        #expect(export.server.standardError.contains("too many fids on this server"))
        await good.client.close()
        try await export.stop()
    }

    /// Descriptors run out under the server (its limit lowered from outside
    /// to just above what it holds): accepting backs off and logs instead of
    /// spinning, connected clients carry on, and clients waiting in the
    /// backlog are served as descriptors come back.
    @Test func acceptBacksOffWhenDescriptorsRunOut() async throws {
        let export = try await Export(["--idle-timeout", "0"])
        defer { export.cleanup() }
        let good = try await WellBehaved(export)
        let limit = try export.status.descriptors + 3
        _ = try await offPool { [pid = export.server.pid] in
            try Posix.runOK(["/usr/bin/prlimit", "--pid", "\(pid)", "--nofile=\(limit):\(limit)"])
        }
        let address = NinePAddress.tcp(host: export.host, port: export.port)
        var waiting: [RawNinePClient] = []
        for _ in 0..<8 {
            let c = try await RawNinePClient.connect(to: address, timeout: .seconds(30))  // the kernel completes it: backlog
            try await c.send(Fcall(tag: .notag, .tversion(Tversion(msize: 8192, version: NineP.version2000))))
            waiting.append(c)
        }
        #expect(await eventually(.seconds(30)) { export.server.standardError.contains("cannot accept connections") })
        // The window measures the server's CPU with nothing asked of it but
        // a few checks: a spinning accept loop burns the whole window, a
        // backed-off one next to none. (Checking in a tight loop instead
        // would measure how fast this machine answers requests.)
        let window = try CPUWindow(export)
        for _ in 0..<5 { try await good.check() }
        try await Task.sleep(until: window.start + .seconds(2))  // the measurement window itself, not a wait for an event
        try await good.check()
        let (cpu, wall) = window.end()
        #expect(cpu < wall * 0.5, "the server spent \(cpu) s of CPU in \(wall) s while descriptors were out")
        // Closing the served ones lets the others in, a few at a time.
        var served = 0
        while !waiting.isEmpty {
            var answered: [RawNinePClient] = []
            let moved = await eventually(.seconds(30)) {
                answered = []
                for c in waiting where (try? await c.hasQueuedReply(tag: .notag)) == true { answered.append(c) }
                return !answered.isEmpty
            }
            #expect(moved, "\(waiting.count) clients never served")
            guard moved else { break }
            for c in answered { await c.close() }
            served += answered.count
            waiting.removeAll { c in answered.contains { $0 === c } }
        }
        #expect(served == 8)
        try await good.check()
        #expect(export.server.standardError.contains("accepting again"))
        print("load: descriptors out (limit \(limit)): CPU \(String(format2: cpu)) s in \(String(format2: wall)) s; \(served) waiting clients served as descriptors came back")
        for c in waiting { await c.close() }
        await good.client.close()
        try await export.stop()
    }

    // MARK: Processes

    @Test func file2chanRunsAtMostMaxCommandsAtOnce() async throws {
        let scratch = try TemporaryDirectory(prefix: "ninep-f2c-cap")
        defer { scratch.remove() }
        let dir = scratch.path
        // Each read's command says it started, then waits for its go file (polling is the command's, not the test's).
        // It also logs "+" on starting and "-" just before it exits, appended in the order they happen, so the
        // running count at any moment is a prefix sum of that log: a command ends after its "-", and a queued one
        // can start only once a running one has ended.
        let command = "echo + >> \(dir)/events; echo $NINEP_OPEN >> \(dir)/started; "
            + "while [ ! -e \(dir)/go.$NINEP_OPEN ]; do sleep 0.05; done; echo - >> \(dir)/events; echo done"
        let server = try await NinePProcess.serve(["file2chan", "f", "--max-commands", "2", "--read", command], socketDirectory: dir)
        defer { server.stopNow() }
        let c = try await RawNinePClient.connect(to: server.address!, timeout: .seconds(60))
        _ = try await c.version()
        _ = try await c.attach(fid: Fid(0))
        for i in 1...6 {
            _ = try await c.call(.twalk(Twalk(fid: Fid(0), newfid: Fid(UInt32(i)), wname: ["f"])))
            _ = try await c.call(.topen(Topen(fid: Fid(UInt32(i)), mode: .read)))
        }
        for i in 1...6 { try await c.send(Fcall(tag: Tag(UInt16(i)), .tread(Tread(fid: Fid(UInt32(i)), offset: 0, count: 100)))) }
        let started = { () -> [String] in
            ((try? Posix.readFile(dir + "/started")).map { String(decoding: $0, as: UTF8.self) } ?? "")
                .split(separator: "\n").map(String.init)
        }
        var answered = 0
        var released = 0
        while answered < 6 {
            // Wait for another command to start or another reply.
            let moved = await eventually(.seconds(30)) {
                var replies = 0
                for i in 1...6 where (try? await c.hasQueuedReply(tag: Tag(UInt16(i)))) == true { replies += 1 }
                let now = started()
                if replies > answered { answered = replies }
                return now.count > released || replies == 6
            }
            #expect(moved, "started \(started()), \(answered) answered")
            guard moved else { break }
            let now = started()
            for open in now[released...] { try Posix.writeFile(dir + "/go." + open, []) }
            released = now.count
        }
        let events = try Posix.readFile(dir + "/events").split(separator: UInt8(ascii: "\n"))
        var running = 0, most = 0
        for e in events {
            running += e == [UInt8(ascii: "+")] ? 1 : -1
            most = max(most, running)
        }
        #expect(events.count == 12, "\(events.count) start and end events")
        #expect((1...2).contains(most), "\(most) commands ran at once (cap 2)")
        #expect(released == 6)
        for i in 1...6 {
            #expect(try await c.reply(tag: Tag(UInt16(i))).message == .rread(Rread(data: ByteBuffer(string: "done\n"))))
        }
        await c.close()
        #expect(try await server.stop() == 0, "\(server.standardError)")
    }
}
