import ArgumentParser
import Glibc
import NIOCore
import NIOPosix
import NinePClient
import NinePTransport
import NinePWire

/// `ninep-bench`: measures a running 9P2000 server as one client, through
/// NinePClient's low-level callback path. Run by `scripts/bench`.
///
/// Prints one machine-readable line per measurement on standard output
/// (`tstat_unix ops_per_s=123456 …`, `read_unix mb_per_s=1234.5 …`; MB is
/// 10^6 bytes) and a table for people on standard error.
@main
struct NinePBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ninep-bench",
        abstract: "Measure a 9P2000 server: pipelined Tstat rate, sequential write and read throughput.",
        discussion: """
            The write creates (or truncates) FILE in the attached tree and writes SIZE bytes \
            to it in Twrites of msize-24 bytes, WINDOW at a time; the read then reads it back \
            the same way. A run that writes removes the file at the end unless --keep is given; \
            a read-only run (--only read) reads the file as it finds it. Tstat keeps \
            --tstat-window Tstats of the root in flight for --seconds.

            Example:
              ninep export --listen unix!/tmp/b.9p /dev/shm/b &
              ninep-bench --label unix unix!/tmp/b.9p
            """)

    enum Workload: String, ExpressibleByArgument, CaseIterable {
        case tstat, write, read
        /// Tstat (9P2000) and Tgetattr (9P2000.L) of the root, each on a
        /// raw connection of its own through the same loop
        /// (`RawMetadataRun`); the server must speak 9P2000.L. Not run by default.
        case attrs
    }

    @Argument(help: "The server's dial string (unix!/path, tcp!host!port, host:port).")
    var address: String

    @Option(help: "The suffix of every result name (tstat_LABEL …), e.g. unix or tcp.")
    var label: String = "9p"

    @Option(name: .customLong("only"), help: "Run only these workloads (repeatable): tstat, write, read, attrs (Tstat next to Tgetattr, for a server that speaks 9P2000.L).")
    var workloads: [Workload] = [.tstat, .write, .read]

    @Option(help: "How long the Tstat run lasts, in seconds.")
    var seconds: Double = 3

    @Option(help: "Tstats in flight at once.")
    var tstatWindow: Int = 128

    @Option(help: "Treads or Twrites in flight at once (the readahead).")
    var window: Int = 4

    @Option(help: "The file written and read, relative to the attached root.")
    var file: String = "ninep-bench.dat"

    @Option(help: "Bytes to write and read (suffixes K, M, G: powers of 1024).")
    var size: String = "1G"

    @Option(help: "The msize to offer (the default gives 1 MiB of data per message).")
    var msize: UInt32 = NineP.defaultMessageSize

    @Option(help: "The user to attach as (default: the name of your uid, which `ninep export` checks it against).")
    var uname: String = LocalUser.name(of: geteuid())

    @Option(help: "The tree to attach to.")
    var aname: String = ""

    @Flag(help: "Keep the file instead of removing it at the end.")
    var keep = false

    func validate() throws {
        guard Self.parseSize(size) != nil else { throw ValidationError("--size '\(size)' is not a size (e.g. 1G, 512M)") }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        guard (1...4096).contains(tstatWindow) else { throw ValidationError("--tstat-window must be 1…4096") }
        guard (1...64).contains(window) else { throw ValidationError("--window must be 1…64") }
        guard msize >= 256 else { throw ValidationError("--msize must be at least 256") }
    }

    /// "1G" → 1 GiB.
    static func parseSize(_ text: String) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var digits = Substring(text.uppercased())
        var scale = 1
        if let last = digits.last, let unit = units[last] {
            scale = unit
            digits = digits.dropLast()
        }
        guard let n = Int(digits), n > 0 else { return nil }
        return n * scale
    }

    func run() async throws {
        // One loop: the client's completions and its socket share a thread,
        // as in the FUSE bridge.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var results: [Result] = []
        if workloads.contains(.attrs) {
            do {
                results += try await measureAttributes(group: group)
            } catch {
                fail("\(error)")
            }
            if workloads == [.attrs] {
                try? await group.shutdownGracefully()
                return report(results)
            }
        }
        let client: NinePClient
        do {
            client = try await NinePClient.connect(
                to: address, group: group, configuration: .init(messageSize: msize))
        } catch {
            fail("cannot connect to \(address): \(error)")
        }
        do {
            results += try await measure(client)
        } catch {
            await client.close()
            fail("\(error)")
        }
        await client.close()
        try? await group.shutdownGracefully()
        report(results)
    }

    /// One measurement.
    struct Result {
        var name: String
        var value: Double
        var unit: String
        var fields: [(String, String)]
    }

    private func measure(_ client: NinePClient) async throws -> [Result] {
        let root = try await client.attach(uname: uname, aname: aname)
        let chunk = Int(client.msize - NineP.ioHeaderSize)
        let bytes = Self.parseSize(size)!
        var results: [Result] = []
        let info = [("msize", "\(client.msize)"), ("server", address)]

        if workloads.contains(.tstat) {
            let fid = try await client.walk(from: root, names: [])
            // A short warm-up first: connection buffers, the server's caches.
            _ = try await Workloads.tstat(client: client, fid: fid, window: tstatWindow, seconds: min(0.3, seconds))
            let o = try await Workloads.tstat(client: client, fid: fid, window: tstatWindow, seconds: seconds)
            try await client.clunk(fid)
            results.append(Result(
                name: "tstat_\(label)", value: Double(o.operations) / o.seconds, unit: "ops_per_s",
                fields: [
                    ("ops", "\(o.operations)"), ("seconds", Self.format(o.seconds, 3)),
                    ("client_cpu_s", Self.format(o.cpuSeconds, 3)), ("window", "\(tstatWindow)"),
                ] + info))
        }

        if workloads.contains(.write) {
            let fid = try await openForWriting(client, root: root)
            let o = try await Workloads.write(client: client, fid: fid, size: bytes, chunk: chunk, window: window)
            try await client.clunk(fid)
            results.append(throughput("write", o, chunk: chunk, info: info))
        }

        if workloads.contains(.read) {
            let fid = try await client.open(path: file, mode: .read, from: root)
            let length = Int(try await client.stat(fid).length)
            let o = try await Workloads.read(client: client, fid: fid, size: length, chunk: chunk, window: window)
            try await client.clunk(fid)
            results.append(throughput("read", o, chunk: chunk, info: info))
        }

        if !keep && workloads.contains(.write) {
            try await client.remove(try await client.walk(path: file, from: root))
        }
        try await client.clunk(root)
        return results
    }

    /// Tstat and Tgetattr of the root, pipelined on raw connections through
    /// one loop (`RawMetadataRun`), each after a short warm-up:
    /// `tstat_raw_LABEL` and `tgetattr_LABEL`.
    private func measureAttributes(group: any EventLoopGroup) async throws -> [Result] {
        var results: [Result] = []
        for (name, dialect) in [("tstat_raw", ProtocolVersion.ninep2000), ("tgetattr", .ninep2000L)] {
            func run(_ seconds: Double) async throws -> PipelinedRun.Outcome {
                try await RawMetadataRun.measure(
                    address: address, dialect: dialect, window: tstatWindow, seconds: seconds, uname: uname, aname: aname,
                    group: group)
            }
            _ = try await run(min(0.3, seconds))
            let o = try await run(seconds)
            results.append(Result(
                name: "\(name)_\(label)", value: Double(o.operations) / o.seconds, unit: "ops_per_s",
                fields: [
                    ("ops", "\(o.operations)"), ("seconds", Self.format(o.seconds, 3)),
                    ("client_cpu_s", Self.format(o.cpuSeconds, 3)), ("window", "\(tstatWindow)"),
                    ("dialect", dialect.rawValue), ("server", address),
                ]))
        }
        return results
    }

    /// Opens `file` for writing, truncated; creates it if missing.
    private func openForWriting(_ client: NinePClient, root: Fid) async throws -> Fid {
        let writeTruncate = OpenMode(rawValue: OpenMode.write.rawValue | OpenMode.truncateBit)
        if let fid = try? await client.walk(path: file, from: root) {
            do {
                try await client.open(fid, mode: writeTruncate)
            } catch {
                try? await client.clunk(fid)
                throw error
            }
            return fid
        }
        return try await client.create(path: file, perm: FileMode(rawValue: 0o644), mode: .write, from: root)
    }

    private func throughput(_ what: String, _ o: PipelinedRun.Outcome, chunk: Int, info: [(String, String)]) -> Result {
        Result(
            name: "\(what)_\(label)", value: Double(o.bytes) / o.seconds / 1e6, unit: "mb_per_s",
            fields: [
                ("bytes", "\(o.bytes)"), ("seconds", Self.format(o.seconds, 3)),
                ("client_cpu_s", Self.format(o.cpuSeconds, 3)), ("chunk", "\(chunk)"), ("window", "\(window)"),
            ] + info)
    }

    private func report(_ results: [Result]) {
        for r in results {
            let fields = r.fields.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
            print("\(r.name) \(r.unit)=\(Self.format(r.value, r.unit == "ops_per_s" ? 0 : 1)) \(fields)")
        }
        var table = "\n  \(pad("measurement", 22)) \(pad("result", 14, right: true))  unit\n"
        for r in results {
            let unit = r.unit == "ops_per_s" ? "ops/s" : "MB/s"
            table += "  \(pad(r.name, 22)) \(pad(Self.format(r.value, r.unit == "ops_per_s" ? 0 : 1), 14, right: true))  \(unit)\n"
        }
        FileHandleStderr.write(table)
    }

    private func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - s.count))
        return right ? fill + s : s + fill
    }

    static func format(_ value: Double, _ decimals: Int) -> String {
        let scale = pow(10.0, Double(decimals))
        let rounded = (value * scale).rounded() / scale
        return decimals == 0 ? "\(Int(rounded))" : "\(rounded)"
    }

    private func fail(_ message: String) -> Never {
        FileHandleStderr.write("ninep-bench: \(message)\n")
        Glibc.exit(1)
    }
}

/// Unbuffered writes to standard error.
enum FileHandleStderr {
    static func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in _ = Glibc.write(2, bytes.baseAddress, bytes.count) }
    }
}
