import Dispatch
import Glibc
import Synchronization

/// POSIX semantics checks for a mounted 9P tree, run with ordinary system
/// calls and coreutils, as any program would use the mount.
///
/// Each check works in a fresh subdirectory of `root`, so checks can run in
/// any order. When `backing` names the directory that the mount exports,
/// checks also look at it directly (contents, modes, times) to show that the
/// change really reached the server.
public struct PosixSuite: Sendable {
    public enum Check: String, CaseIterable, Sendable {
        case coreutilsRoundTrip
        case writeAtOffsets
        case append
        case truncate
        case exclusiveCreate
        case renameWithinDirectory
        case renameOverExisting
        case renameAcrossDirectories
        case mkdirRmdir
        case largeDirectory
        case chmodAndTouch
        case errorMapping
        case concurrentReadersWriters
        case unlinkOpenFile
    }

    public var root: String
    public var backing: String?
    /// Entries in the `largeDirectory` check.
    public var largeDirectoryEntries = 10_000

    public init(root: String, backing: String? = nil) {
        self.root = root
        self.backing = backing
    }

    /// Runs one check in a new subdirectory named after it.
    public func run(_ check: Check) throws {
        let dir = root + "/" + check.rawValue
        _ = try? Posix.run(["rm", "-rf", dir])
        try Posix.check("mkdir", dir, mkdir(dir, 0o755))
        let back = backing.map { $0 + "/" + check.rawValue }
        switch check {
        case .coreutilsRoundTrip: try coreutilsRoundTrip(dir, back)
        case .writeAtOffsets: try writeAtOffsets(dir, back)
        case .append: try append(dir)
        case .truncate: try truncate(dir, back)
        case .exclusiveCreate: try exclusiveCreate(dir)
        case .renameWithinDirectory: try renameWithinDirectory(dir, back)
        case .renameOverExisting: try renameOverExisting(dir, back)
        case .renameAcrossDirectories: try renameAcrossDirectories(dir, back)
        case .mkdirRmdir: try mkdirRmdir(dir)
        case .largeDirectory: try largeDirectory(dir)
        case .chmodAndTouch: try chmodAndTouch(dir, back)
        case .errorMapping: try errorMapping(dir)
        case .concurrentReadersWriters: try concurrentReadersWriters(dir)
        case .unlinkOpenFile: try unlinkOpenFile(dir)
        }
        _ = try? Posix.run(["rm", "-rf", dir])
    }

    // MARK: Checks

    func coreutilsRoundTrip(_ dir: String, _ back: String?) throws {
        let src = try makeScratchTree()
        defer { _ = try? Posix.run(["rm", "-rf", src]) }
        try Posix.runOK(["cp", "-r", src + "/.", dir + "/tree"])
        try Posix.runOK(["diff", "-r", src, dir + "/tree"])
        if let back { try Posix.runOK(["diff", "-r", src, back + "/tree"]) }
        // And the other way: files made on the mount with shell tools.
        try Posix.runOK(["sh", "-c", "cd '\(dir)' && seq 1 20000 > numbers && sort -rn numbers > sorted && wc -l < sorted > count"])
        let count = String(decoding: try Posix.readFile(dir + "/count"), as: UTF8.self)
        guard count.trimmingCharacters() == "20000" else {
            throw ConformanceFailure("shell pipeline", "wc -l said '\(count)'")
        }
        try Posix.runOK(["cp", "-r", dir + "/tree", dir + "/copy"])
        try Posix.runOK(["diff", "-r", dir + "/tree", dir + "/copy"])
        let listing = try Posix.runOK(["ls", "-la", dir + "/tree"])
        guard listing.contains("empty") && listing.contains("big.bin") else {
            throw ConformanceFailure("ls -la", "missing entries in:\n\(listing)")
        }
    }

    func writeAtOffsets(_ dir: String, _ back: String?) throws {
        let path = dir + "/offsets"
        let fd = try Posix.open(path, O_RDWR | O_CREAT | O_TRUNC)
        defer { Posix.close(fd) }
        var mirror: [UInt8] = []
        func put(_ bytes: [UInt8], at offset: Int) throws {
            try Posix.pwrite(fd, bytes, at: offset, path: path)
            if mirror.count < offset + bytes.count { mirror += [UInt8](repeating: 0, count: offset + bytes.count - mirror.count) }
            mirror.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        }
        try put(.pattern(count: 5000, seed: 1), at: 0)
        try put(.pattern(count: 100, seed: 2), at: 4090)
        try put(.pattern(count: 10, seed: 3), at: 1 << 20)  // leaves a hole
        try put(.pattern(count: 70_000, seed: 4), at: 12_345)
        let got = try Posix.pread(fd, count: mirror.count + 100, at: 0, path: path)
        guard got == mirror else { throw ConformanceFailure("pread after pwrites", firstDifference(got, mirror)) }
        let mid = try Posix.pread(fd, count: 3, at: 4091, path: path)
        guard mid == Array(mirror[4091..<4094]) else { throw ConformanceFailure("pread at 4091", firstDifference(mid, Array(mirror[4091..<4094]))) }
        if let back {
            let onServer = try Posix.readFile(back + "/offsets")
            guard onServer == mirror else { throw ConformanceFailure("exported file after pwrites", firstDifference(onServer, mirror)) }
        }
    }

    func append(_ dir: String) throws {
        let path = dir + "/log"
        try Posix.writeFile(path, Array("first\n".utf8))
        let fd = try Posix.open(path, O_WRONLY | O_APPEND)
        _ = lseek(fd, 0, SEEK_SET)
        try Posix.write(fd, Array("second\n".utf8), path: path)
        try Posix.write(fd, Array("third\n".utf8), path: path)
        Posix.close(fd)
        try Posix.runOK(["sh", "-c", "echo fourth >> '\(path)'"])
        let text = String(decoding: try Posix.readFile(path), as: UTF8.self)
        guard text == "first\nsecond\nthird\nfourth\n" else {
            throw ConformanceFailure("O_APPEND", "file holds \(text.debugDescription)")
        }
    }

    func truncate(_ dir: String, _ back: String?) throws {
        let path = dir + "/t"
        try Posix.writeFile(path, .pattern(count: 10_000, seed: 5))
        try Posix.check("truncate down", path, Glibc.truncate(path, 3000))
        guard try Posix.stat(path).st_size == 3000 else { throw ConformanceFailure("truncate down", "size is \(try Posix.stat(path).st_size)") }
        let fd = try Posix.open(path, O_RDWR)
        try Posix.check("ftruncate up", path, ftruncate(fd, 100_000))
        let tail = try Posix.pread(fd, count: 10, at: 99_990, path: path)
        Posix.close(fd)
        guard tail == [UInt8](repeating: 0, count: 10) else { throw ConformanceFailure("ftruncate up", "tail is not zeros: \(tail)") }
        let head = try Posix.readFile(path)
        guard head.count == 100_000, Array(head[0..<3000]) == [UInt8].pattern(count: 3000, seed: 5) else {
            throw ConformanceFailure("truncate", "content wrong after truncate down then up (\(head.count) bytes)")
        }
        let fd2 = try Posix.open(path, O_WRONLY | O_TRUNC)
        Posix.close(fd2)
        guard try Posix.stat(path).st_size == 0 else { throw ConformanceFailure("O_TRUNC", "size is \(try Posix.stat(path).st_size)") }
        if let back, try Posix.stat(back + "/t").st_size != 0 {
            throw ConformanceFailure("O_TRUNC", "exported file not truncated")
        }
    }

    func exclusiveCreate(_ dir: String) throws {
        let path = dir + "/x"
        let fd = try Posix.open(path, O_CREAT | O_EXCL | O_WRONLY)
        Posix.close(fd)
        try Posix.expectErrno("O_CREAT|O_EXCL on an existing file", EEXIST) { Glibc.open(path, O_CREAT | O_EXCL | O_WRONLY, 0o644) }
        let again = try Posix.open(path, O_CREAT | O_WRONLY)
        Posix.close(again)
        try Posix.expectErrno("mkdir of an existing name", EEXIST) { mkdir(path, 0o755) }
    }

    func renameWithinDirectory(_ dir: String, _ back: String?) throws {
        try Posix.writeFile(dir + "/a", Array("alpha".utf8))
        try Posix.check("rename", dir + "/a", rename(dir + "/a", dir + "/b"))
        try Posix.expectErrno("stat of the old name", ENOENT) { var st = Glibc.stat(); return fstatat(AT_FDCWD, dir + "/a", &st, 0) }
        guard try Posix.readFile(dir + "/b") == Array("alpha".utf8) else { throw ConformanceFailure("rename", "content lost") }
        try Posix.check("mkdir", dir + "/d", mkdir(dir + "/d", 0o755))
        try Posix.check("rename dir", dir + "/d", rename(dir + "/d", dir + "/e"))
        try Posix.writeFile(dir + "/e/inner", Array("in".utf8))
        guard try Posix.readFile(dir + "/e/inner") == Array("in".utf8) else { throw ConformanceFailure("renamed dir", "content lost") }
        if let back {
            guard try Posix.readFile(back + "/b") == Array("alpha".utf8) else { throw ConformanceFailure("rename", "not on the server") }
        }
    }

    func renameOverExisting(_ dir: String, _ back: String?) throws {
        try Posix.writeFile(dir + "/new", Array("new".utf8))
        try Posix.writeFile(dir + "/old", Array("old contents".utf8))
        try Posix.check("rename over existing", dir + "/new", rename(dir + "/new", dir + "/old"))
        guard try Posix.readFile(dir + "/old") == Array("new".utf8) else { throw ConformanceFailure("rename over existing", "target not replaced") }
        try Posix.expectErrno("stat of the renamed-away name", ENOENT) { var st = Glibc.stat(); return fstatat(AT_FDCWD, dir + "/new", &st, 0) }
        // The editor's way: write a temp file, then rename it over the original.
        try Posix.runOK(["sh", "-c", "cd '\(dir)' && printf edited > .old.swp && mv -f .old.swp old"])
        guard try Posix.readFile(dir + "/old") == Array("edited".utf8) else { throw ConformanceFailure("save-by-rename", "not replaced") }
        if let back {
            guard try Posix.readFile(back + "/old") == Array("edited".utf8) else { throw ConformanceFailure("rename over existing", "not on the server") }
        }
    }

    func renameAcrossDirectories(_ dir: String, _ back: String?) throws {
        try Posix.check("mkdir", dir, mkdir(dir + "/from", 0o755))
        try Posix.check("mkdir", dir, mkdir(dir + "/to", 0o755))
        try Posix.writeFile(dir + "/from/f", .pattern(count: 200_000, seed: 9))
        let rc = rename(dir + "/from/f", dir + "/to/f")
        if rc != 0 && errno != EXDEV {
            throw ConformanceFailure("rename across directories", "failed with \(Posix.errnoText()), expected success or EXDEV")
        }
        if rc != 0 { try Posix.runOK(["mv", dir + "/from/f", dir + "/to/f"]) }
        guard try Posix.readFile(dir + "/to/f") == [UInt8].pattern(count: 200_000, seed: 9) else {
            throw ConformanceFailure("mv across directories", "content differs")
        }
        try Posix.expectErrno("stat of the moved-away name", ENOENT) { var st = Glibc.stat(); return fstatat(AT_FDCWD, dir + "/from/f", &st, 0) }
        if let back {
            guard try Posix.readFile(back + "/to/f") == [UInt8].pattern(count: 200_000, seed: 9) else {
                throw ConformanceFailure("mv across directories", "not on the server")
            }
        }
    }

    func mkdirRmdir(_ dir: String) throws {
        try Posix.check("mkdir", dir, mkdir(dir + "/full", 0o755))
        try Posix.writeFile(dir + "/full/file", [1])
        try Posix.expectErrno("rmdir of a non-empty directory", ENOTEMPTY) { rmdir(dir + "/full") }
        try Posix.check("unlink", dir, unlink(dir + "/full/file"))
        try Posix.check("rmdir", dir, rmdir(dir + "/full"))
        try Posix.expectErrno("rmdir again", ENOENT) { rmdir(dir + "/full") }
        try Posix.runOK(["mkdir", "-p", dir + "/a/b/c/d"])
        try Posix.runOK(["rm", "-r", dir + "/a"])
        try Posix.expectErrno("stat after rm -r", ENOENT) { var st = Glibc.stat(); return fstatat(AT_FDCWD, dir + "/a", &st, 0) }
    }

    func largeDirectory(_ dir: String) throws {
        let n = largeDirectoryEntries
        for i in 0..<n {
            let fd = Glibc.open(dir + "/entry-\(i)", O_CREAT | O_WRONLY, 0o644)
            if fd < 0 { throw ConformanceFailure("create entry-\(i)", Posix.errnoText()) }
            Glibc.close(fd)
        }
        let names = try getdentsNames(dir, bufferSize: 2048)
        var seen: [String: Int] = [:]
        for name in names { seen[name, default: 0] += 1 }
        let repeated = seen.filter { $0.value > 1 }.keys.sorted()
        let missing = (0..<n).map { "entry-\($0)" }.filter { seen[$0] == nil }
        guard repeated.isEmpty, missing.isEmpty, seen["."] == 1 || seen["."] == nil else {
            throw ConformanceFailure(
                "getdents64 with a 2 KiB buffer",
                "\(names.count) names; \(missing.count) missing (e.g. \(missing.prefix(3))), \(repeated.count) repeated (e.g. \(repeated.prefix(3)))")
        }
        let ls = try Posix.runOK(["sh", "-c", "ls -f '\(dir)' | wc -l"])
        guard Int(ls.trimmingCharacters()) ?? 0 >= n else { throw ConformanceFailure("ls -f | wc -l", "said \(ls)") }
    }

    func chmodAndTouch(_ dir: String, _ back: String?) throws {
        let path = dir + "/m"
        try Posix.writeFile(path, [1, 2, 3])
        try Posix.check("chmod", path, chmod(path, 0o640))
        guard try Posix.stat(path).st_mode & 0o777 == 0o640 else { throw ConformanceFailure("chmod 640", "mode is \(String(try Posix.stat(path).st_mode & 0o777, radix: 8))") }
        try Posix.runOK(["touch", "-m", "-d", "2001-02-03 04:05:06 UTC", path])
        let want = 981_173_106
        guard try Posix.stat(path).st_mtim.tv_sec == want else { throw ConformanceFailure("touch -d", "mtime is \(try Posix.stat(path).st_mtim.tv_sec), want \(want)") }
        try Posix.runOK(["chmod", "u+x", path])
        if let back {
            let st = try Posix.stat(back + "/m")
            guard st.st_mode & 0o777 == 0o740 else { throw ConformanceFailure("chmod on the server", "mode is \(String(st.st_mode & 0o777, radix: 8))") }
            guard st.st_mtim.tv_sec == want else { throw ConformanceFailure("touch -d on the server", "mtime is \(st.st_mtim.tv_sec)") }
        }
    }

    func errorMapping(_ dir: String) throws {
        try Posix.expectErrno("open of a missing file", ENOENT) { Glibc.open(dir + "/missing", O_RDONLY) }
        try Posix.writeFile(dir + "/file", [0])
        try Posix.expectErrno("open below a file", ENOTDIR) { Glibc.open(dir + "/file/below", O_RDONLY) }
        try Posix.expectErrno("open a directory for writing", EISDIR) { Glibc.open(dir, O_WRONLY) }
        try Posix.expectErrno("mkdir of an existing file", EEXIST) { mkdir(dir + "/file", 0o755) }
        try Posix.expectErrno("rmdir of a file", ENOTDIR) { rmdir(dir + "/file") }
        try Posix.expectErrno("unlink of a missing file", ENOENT) { unlink(dir + "/missing") }
    }

    func concurrentReadersWriters(_ dir: String) throws {
        let path = dir + "/shared"
        let block = 64 * 1024
        let writers = 4
        let blocksEach = 16
        try Posix.writeFile(path, [])
        let failures = Mutexed<[String]>([])
        DispatchQueue.concurrentPerform(iterations: writers * 2) { worker in
            do {
                if worker < writers {
                    let fd = try Posix.open(path, O_WRONLY)
                    defer { Posix.close(fd) }
                    for b in 0..<blocksEach {
                        let index = b * writers + worker
                        try Posix.pwrite(fd, .pattern(count: block, seed: UInt64(index)), at: index * block, path: path)
                    }
                } else {
                    let fd = try Posix.open(path, O_RDONLY)
                    defer { Posix.close(fd) }
                    for round in 0..<blocksEach * 2 {
                        // Readers race the writers: any block they see whole must be
                        // either all zeros/absent or exactly its pattern.
                        let index = (round * 7 + worker) % (writers * blocksEach)
                        let got = try Posix.pread(fd, count: block, at: index * block, path: path)
                        if got.count == block && got != [UInt8].pattern(count: block, seed: UInt64(index))
                            && got.contains(where: { $0 != 0 }) && !isPrefixMix(got, index: index) {
                            failures.withLock { $0.append("reader saw a torn block \(index)") }
                        }
                    }
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        let errs = failures.withLock { $0 }
        if !errs.isEmpty { throw ConformanceFailure("concurrent readers and writers", errs.prefix(5).joined(separator: "; ")) }
        let all = try Posix.readFile(path)
        for index in 0..<writers * blocksEach {
            let got = Array(all[index * block..<(index + 1) * block])
            guard got == [UInt8].pattern(count: block, seed: UInt64(index)) else {
                throw ConformanceFailure("concurrent writers", "block \(index) is wrong at the end")
            }
        }
    }

    /// A reader may see a block half-written (page by page); accept a block
    /// whose every 4 KiB page is either zeros or the pattern.
    private func isPrefixMix(_ got: [UInt8], index: Int) -> Bool {
        let want = [UInt8].pattern(count: got.count, seed: UInt64(index))
        var page = 0
        while page < got.count {
            let end = min(page + 4096, got.count)
            let slice = got[page..<end]
            if !(slice.allSatisfy { $0 == 0 } || Array(slice) == Array(want[page..<end])) { return false }
            page = end
        }
        return true
    }

    func unlinkOpenFile(_ dir: String) throws {
        let path = dir + "/doomed"
        try Posix.writeFile(path, Array("still here".utf8))
        let fd = try Posix.open(path, O_RDONLY)
        defer { Posix.close(fd) }
        try Posix.check("unlink", path, unlink(path))
        try Posix.expectErrno("stat after unlink", ENOENT) { var st = Glibc.stat(); return fstatat(AT_FDCWD, path, &st, 0) }
        let fd2 = try Posix.open(path, O_CREAT | O_EXCL | O_WRONLY)
        Posix.close(fd2)
    }

    // MARK: Helpers

    /// Makes a tree of assorted files in a new local temporary directory.
    func makeScratchTree() throws -> String {
        var template = Array("/tmp/ninep-posix-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw ConformanceFailure("mkdtemp", Posix.errnoText()) }
        let base = String(cString: p)
        try Posix.writeFile(base + "/empty", [])
        try Posix.writeFile(base + "/small.txt", Array("hello, 9P\n".utf8))
        try Posix.writeFile(base + "/big.bin", .pattern(count: 3 << 20 + 17, seed: 42))
        try Posix.check("mkdir", base, mkdir(base + "/sub", 0o755))
        try Posix.check("mkdir", base, mkdir(base + "/sub/deeper", 0o700))
        for i in 0..<50 { try Posix.writeFile(base + "/sub/f\(i)", .pattern(count: i * 997, seed: UInt64(i))) }
        try Posix.writeFile(base + "/sub/deeper/x", .pattern(count: 65_537, seed: 7))
        try Posix.writeFile(base + "/name with spaces & ünïcode", Array("odd name".utf8))
        return base
    }

    func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> String {
        if a.count != b.count { return "length \(a.count), expected \(b.count)" }
        for i in 0..<a.count where a[i] != b[i] { return "byte \(i) is \(a[i]), expected \(b[i])" }
        return "equal"
    }
}

/// Reads a directory with raw getdents64 and a buffer of the given size, as
/// `ls` does with small buffers, returning every name (including . and ..).
public func getdentsNames(_ path: String, bufferSize: Int) throws -> [String] {
    let fd = try Posix.open(path, O_RDONLY | O_DIRECTORY)
    defer { Posix.close(fd) }
    var names: [String] = []
    var buffer = [UInt8](repeating: 0, count: bufferSize)
    while true {
        let n = buffer.withUnsafeMutableBytes { raw in
            getdents64(fd, raw.baseAddress!, raw.count)
        }
        if n < 0 { throw ConformanceFailure("getdents64", "\(path): \(Posix.errnoText())") }
        if n == 0 { break }
        var off = 0
        while off < n {
            // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
            let reclen = Int(buffer[off + 16]) | Int(buffer[off + 17]) << 8
            let nameStart = off + 19
            var end = nameStart
            while end < off + reclen && buffer[end] != 0 { end += 1 }
            names.append(String(decoding: buffer[nameStart..<end], as: UTF8.self))
            off += reclen
        }
    }
    return names
}

/// glibc's getdents64(3) wrapper, which the Glibc module does not export.
private let getdents64: @convention(c) (Int32, UnsafeMutableRawPointer, Int) -> Int = {
    guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "getdents64") else {
        fatalError("glibc has no getdents64")
    }
    return unsafeBitCast(sym, to: (@convention(c) (Int32, UnsafeMutableRawPointer, Int) -> Int).self)
}()

extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}

/// A value behind a lock, shareable between threads.
final class Mutexed<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
