import ArgumentParser
import Foundation
import Glibc
import Logging
import NIOCore
import NIOPosix
import NinePClient
import NinePTransport
import NinePWire

/// A connected, attached client for one command, closed when the body ends.
/// Errors are printed with the operation, path and server, and exit 1.
func withSession<T: Sendable>(
    _ options: ClientOptions, address: String,
    _ body: (NinePClient, Fid) async throws -> T
) async -> T {
    bootstrapLogging(debug: options.debug)
    options.prepareDialling()
    var configuration = NinePClient.Configuration(messageSize: options.msize)
    if options.debug { configuration.trace = Logger(label: "ninep.9p") }
    configuration.connectTimeout = options.connectDeadline
    let client: NinePClient
    let root: Fid
    do {
        configuration.tls = try options.tls.clientSettings()
        (client, root) = try await NinePClient.connect(
            to: NinePAddress(dialString: address), attachingAs: options.user(tls: configuration.tls),
            aname: options.aname, group: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    } catch {
        fail("\(error)")
    }
    do {
        let result = try await body(client, root)
        await client.close()
        return result
    } catch {
        await client.close()
        fail("\(error)")
    }
}

/// Formats a directory entry like Plan 9's `ls -l`:
/// `--rw-r--r-- M 0 glenda glenda 1024 Jan  2 15:04 name`.
func longListing(_ d: Stat) -> String {
    var mode = d.mode.description
    if d.mode.contains(.append) && !d.mode.isDirectory { mode = "a" + mode.dropFirst() }
    let date = Date(timeIntervalSince1970: TimeInterval(d.mtime))
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.dateFormat = abs(date.timeIntervalSinceNow) < 180 * 86400 ? "MMM d HH:mm" : "MMM d  yyyy"
    return "\(mode) M \(d.dev) \(d.uid) \(d.gid) \(d.length) \(formatter.string(from: date)) \(d.name)"
}

struct Ls: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a directory (or name a file) on a 9P server.",
        discussion: "With -l, each line is: mode, device, uid, gid, length, mtime, name.")

    @OptionGroup var options: ClientOptions
    @Flag(name: .customShort("l"), help: "Long listing.") var long = false
    @Argument(help: "The server's dial string.") var address: String
    @Argument(help: "The path on the server (default /).") var path: String = "/"

    func run() async throws {
        let lines = await withSession(options, address: address) { client, root in
            let fid = try await client.walk(path: path, from: root)
            let st = try await client.stat(fid)
            var entries = [st]
            if st.mode.isDirectory {
                _ = try await client.open(fid, mode: .read)
                entries = try await client.readdir(fid).sorted { $0.name < $1.name }
            }
            try await client.clunk(fid)
            return entries.map { long ? longListing($0) : $0.name }
        }
        for line in lines { print(line) }
    }
}

struct StatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stat", abstract: "Print a file's directory entry, as a 9P server reports it.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The server's dial string.") var address: String
    @Argument(help: "The path on the server.") var path: String

    func run() async throws {
        let st = await withSession(options, address: address) { client, root in
            let fid = try await client.walk(path: path, from: root)
            let st = try await client.stat(fid)
            try await client.clunk(fid)
            return st
        }
        print("""
            name    \(st.name)
            qid     path 0x\(String(st.qid.path, radix: 16)) version \(st.qid.version) type '\(st.qid.type)'
            mode    \(st.mode) (0\(String(st.mode.rawValue, radix: 8)))
            length  \(st.length)
            uid     \(st.uid)
            gid     \(st.gid)
            muid    \(st.muid)
            atime   \(st.atime)
            mtime   \(st.mtime)
            type    \(st.type)
            dev     \(st.dev)
            """)
    }
}

struct Read: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Copy a file on a 9P server to standard output.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The server's dial string.") var address: String
    @Argument(help: "The path on the server.") var path: String

    func run() async throws {
        await withSession(options, address: address) { client, root in
            let fid = try await client.open(path: path, mode: .read, from: root)
            var offset: UInt64 = 0
            let chunk = client.maximumIOCount(for: fid)
            while true {
                let data = try await client.read(fid, offset: offset, count: chunk)
                if data.readableBytes == 0 { break }
                try writeAll(1, data)
                offset += UInt64(data.readableBytes)
            }
            try await client.clunk(fid)
        }
    }
}

struct Write: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy standard input to a file on a 9P server.",
        discussion: "The file must exist (see `ninep create`); it is truncated first unless --append is given.")

    @OptionGroup var options: ClientOptions
    @Flag(help: "Write at the end of the file instead of truncating it.") var append = false
    @Argument(help: "The server's dial string.") var address: String
    @Argument(help: "The path on the server.") var path: String

    func run() async throws {
        await withSession(options, address: address) { client, root in
            let mode: OpenMode = append ? .write : OpenMode.write.with(truncate: true)
            let fid = try await client.open(path: path, mode: mode, from: root)
            var offset: UInt64 = append ? try await client.stat(fid).length : 0
            try await copyStandardInput { data in
                let n = try await client.write(fid, offset: offset, data: data)
                offset += UInt64(n)
            }
            try await client.clunk(fid)
        }
    }
}

struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a file on a 9P server, and fill it from standard input if it is not a terminal.")

    @OptionGroup var options: ClientOptions
    @Option(help: ArgumentHelp("Permission bits, in octal.", valueName: "octal")) var mode: String = "644"
    @Argument(help: "The server's dial string.") var address: String
    @Argument(help: "The path on the server.") var path: String

    func validate() throws { _ = try octalPermissions(mode, example: "644") }

    func run() async throws {
        let perm = FileMode(permissions: try! octalPermissions(mode, example: "644"))
        await withSession(options, address: address) { client, root in
            let fid = try await client.create(path: path, perm: perm, mode: .write, from: root)
            if isatty(0) == 0 {
                var offset: UInt64 = 0
                try await copyStandardInput { data in
                    offset += UInt64(try await client.write(fid, offset: offset, data: data))
                }
            }
            try await client.clunk(fid)
        }
    }
}

struct Mkdir: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make a directory on a 9P server.")

    @OptionGroup var options: ClientOptions
    @Option(help: ArgumentHelp("Permission bits, in octal.", valueName: "octal")) var mode: String = "755"
    @Argument(help: "The server's dial string.") var address: String
    @Argument(help: "The path on the server.") var path: String

    func validate() throws { _ = try octalPermissions(mode, example: "755") }

    func run() async throws {
        let perm = FileMode(permissions: try! octalPermissions(mode, example: "755"), flags: .dir)
        await withSession(options, address: address) { client, root in
            let fid = try await client.create(path: path, perm: perm, mode: .read, from: root)
            try await client.clunk(fid)
        }
    }
}

struct Rm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove a file or an empty directory on a 9P server.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The server's dial string.") var address: String
    @Argument(help: "The paths on the server.") var paths: [String]

    func validate() throws {
        if paths.isEmpty { throw ValidationError("name at least one path to remove") }
    }

    func run() async throws {
        await withSession(options, address: address) { client, root in
            for path in paths {
                let fid = try await client.walk(path: path, from: root)
                try await client.remove(fid)
            }
        }
    }
}

struct Mv: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rename a file within its directory on a 9P server.",
        discussion: "9P2000 renames with Twstat, which cannot move a file to another directory: NEWNAME is a name, not a path.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The server's dial string.") var address: String
    @Argument(help: "The path on the server.") var path: String
    @Argument(help: "The new name, in the same directory.") var newName: String

    func validate() throws {
        let base = newName.split(separator: "/").last.map(String.init) ?? newName
        let dir = path.split(separator: "/").dropLast().joined(separator: "/")
        let newDir = newName.split(separator: "/").dropLast().joined(separator: "/")
        if newName.contains("/") && newDir != dir {
            throw ValidationError("9P2000 cannot move '\(path)' to another directory; give a new name in the same directory")
        }
        if base.isEmpty || base == "." || base == ".." { throw ValidationError("'\(newName)' is not a valid file name") }
    }

    func run() async throws {
        let base = newName.split(separator: "/").last.map(String.init) ?? newName
        await withSession(options, address: address) { client, root in
            let fid = try await client.walk(path: path, from: root)
            var st = Stat.dontTouch
            st.name = base
            try await client.wstat(fid, st)
            try await client.clunk(fid)
        }
    }
}

/// Writes every byte of `data` to a descriptor.
func writeAll(_ fd: Int32, _ data: ByteBuffer) throws {
    try data.withUnsafeReadableBytes { raw in
        var done = 0
        while done < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIXErrorText(context: "write to standard output")
            }
            done += n
        }
    }
}

/// Reads standard input in 1 MiB chunks until EOF.
func copyStandardInput(_ body: (ByteBuffer) async throws -> Void) async throws {
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = chunk.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress!, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw POSIXErrorText(context: "read standard input")
        }
        if n == 0 { return }
        try await body(ByteBuffer(bytes: chunk[0..<n]))
    }
}

/// A failed local system call, described with its errno text.
struct POSIXErrorText: Error, CustomStringConvertible {
    let description: String
    init(context: String, errno e: Int32 = errno) {
        description = "\(context): \(String(cString: strerror(e)))"
    }
}

/// Parses `--mode`: octal permission bits no larger than 0777.
func octalPermissions(_ text: String, example: String) throws -> UInt32 {
    guard let bits = UInt32(text, radix: 8), bits <= 0o777 else {
        throw ValidationError("--mode '\(text)' is not an octal permission such as \(example)")
    }
    return bits
}
