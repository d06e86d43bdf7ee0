#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NinePWire

/// The registry's state on disk (`<ns>/ninep-srv.state`), one line per
/// service directory and per posted entry, tab-separated:
///
/// ```
/// # ninep srv state 1
/// dir	1/2
/// entry	1/2/ramfs	unix!/tmp/ns.glenda.:0/ramfs
/// entry	ctl	unix!/tmp/ns.glenda.:0/ctl /ctl
/// held	db	unix!/tmp/ns.glenda.:0/db
/// ```
///
/// `held` is an entry whose listening socket the registry held (a
/// hand-over): the descriptor itself cannot outlive the registry process,
/// so a restarted registry says what became of each.
///
/// It is rewritten whole after every change, to a temporary file renamed
/// over the old one, so a reader or a restarted registry sees either the
/// old state or the new one, never a torn file.
enum RegistryStateFile {
    static let header = "# ninep srv state 1"

    /// The tree as lines of the format above.
    static func serialize(_ tree: RegistryTree) -> String {
        var lines = [header]
        let sorted = tree.nodes.values.sorted { $0.id < $1.id }
        for n in sorted where n.id != RegistryTree.root {
            let path = tree.path(of: n.id).joined(separator: "/")
            switch n.kind {
            case .directory: lines.append("dir\t\(path)")
            case .entry: if let a = n.posted { lines.append("\(n.held ? "held" : "entry")\t\(path)\t\(a)") }
            case .clone: break
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses a state file into service directories and entries; lines it
    /// cannot read are returned as complaints rather than guessed at.
    /// One entry line: its path, what was posted, and whether it was held.
    struct Entry: Equatable {
        var path: [String]
        var address: String
        var held = false
    }

    static func parse(_ text: String) -> (directories: [[String]], entries: [Entry], complaints: [String]) {
        var directories: [[String]] = []
        var entries: [Entry] = []
        var complaints: [String] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            if line.hasPrefix("#") { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            let path = fields.count > 1 ? fields[1].split(separator: "/").map(String.init) : []
            switch (fields.first, fields.count) {
            case ("dir", 2) where !path.isEmpty: directories.append(path)
            case ("entry", 3) where !path.isEmpty: entries.append(Entry(path: path, address: fields[2]))
            case ("held", 3) where !path.isEmpty: entries.append(Entry(path: path, address: fields[2], held: true))
            default: complaints.append("line \(number + 1): cannot read '\(line)'")
            }
        }
        return (directories, entries, complaints)
    }

    /// Writes `text` to `path` atomically: a temporary file in the same
    /// directory, then rename(2). Returns the error text, if any.
    static func write(_ text: String, to path: String) -> String? {
        let temporary = "\(path).tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return "cannot write \(temporary): \(String(cString: strerror(errno)))" }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                return "cannot write \(temporary): \(reason)"
            }
            bytes = bytes.dropFirst(n)
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            return "cannot rename \(temporary) to \(path): \(reason)"
        }
        return nil
    }

    /// The file's contents, or nil if it does not exist.
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            data += chunk[..<n]
        }
        return String(decoding: data, as: UTF8.self)
    }
}
