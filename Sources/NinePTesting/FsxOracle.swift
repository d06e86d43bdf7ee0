import Glibc

/// A randomized file-system exerciser in the manner of fsx: random mixes of
/// write, truncate, read, mmap read and reopen on several files, each checked
/// against a mirror kept in memory. Every run prints its seed; a run with the
/// same seed, files and operation count does the same operations.
public struct FsxOracle: Sendable {
    public struct Report: Sendable, CustomStringConvertible {
        public var seed: UInt64
        public var operations: Int
        public var mismatches: [String]
        public var counts: [String: Int]
        public var description: String {
            let ops = counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            return "fsx seed \(seed): \(operations) ops (\(ops)), \(mismatches.count) mismatches"
        }
    }

    public var directory: String
    public var seed: UInt64
    public var files = 4
    public var maxFileSize = 512 * 1024
    public var maxIOSize = 64 * 1024
    /// Called after each operation with its index; lets a chaos test cut
    /// connections between operations.
    public var afterOperation: (@Sendable (Int) -> Void)? = nil

    public init(directory: String, seed: UInt64) {
        self.directory = directory
        self.seed = seed
    }

    /// Runs `operations` random operations. Errors from the file system (a
    /// failed syscall) are thrown; wrong data is collected as mismatches.
    public func run(operations: Int) throws -> Report {
        var rng = SplitMix64(seed: seed)
        var mirrors = [[UInt8]](repeating: [], count: files)
        var fds = [Int32](repeating: -1, count: files)
        var report = Report(seed: seed, operations: operations, mismatches: [], counts: [:])
        let paths = (0..<files).map { directory + "/fsx-\($0)" }
        for i in 0..<files { fds[i] = try Posix.open(paths[i], O_RDWR | O_CREAT | O_TRUNC) }
        defer { for fd in fds where fd >= 0 { Posix.close(fd) } }

        func note(_ op: String) { report.counts[op, default: 0] += 1 }
        func mismatch(_ i: Int, _ what: String) {
            if report.mismatches.count < 50 { report.mismatches.append("op \(i): \(what)") }
            else if report.mismatches.count == 50 { report.mismatches.append("…") }
        }

        for i in 0..<operations {
            let f = Int.random(in: 0..<files, using: &rng)
            let path = paths[f]
            let roll = Int.random(in: 0..<100, using: &rng)
            switch roll {
            case 0..<35:
                // write, sometimes past the end (leaving a hole), sometimes appending
                let len = Int.random(in: 1...maxIOSize, using: &rng)
                let off = roll < 5 ? mirrors[f].count : Int.random(in: 0...max(0, maxFileSize - len), using: &rng)
                let data = [UInt8].pattern(count: len, seed: rng.next())
                try Posix.pwrite(fds[f], data, at: off, path: path)
                if mirrors[f].count < off + len { mirrors[f] += [UInt8](repeating: 0, count: off + len - mirrors[f].count) }
                mirrors[f].replaceSubrange(off..<off + len, with: data)
                note("write")
            case 35..<45:
                let size = Int.random(in: 0...maxFileSize, using: &rng)
                try Posix.check("ftruncate", path, ftruncate(fds[f], off_t(size)))
                if size < mirrors[f].count { mirrors[f].removeLast(mirrors[f].count - size) }
                else { mirrors[f] += [UInt8](repeating: 0, count: size - mirrors[f].count) }
                note("truncate")
            case 45..<75:
                let len = Int.random(in: 1...maxIOSize, using: &rng)
                let off = Int.random(in: 0...maxFileSize, using: &rng)
                let got = try Posix.pread(fds[f], count: len, at: off, path: path)
                let want = off < mirrors[f].count ? Array(mirrors[f][off..<min(off + len, mirrors[f].count)]) : []
                if got != want { mismatch(i, "read \(path) [\(off), +\(len)): \(describe(got, want))") }
                note("read")
            case 75..<85:
                let size = mirrors[f].count
                guard size > 0 else { note("mmapread-empty"); break }
                let off = Int.random(in: 0..<size, using: &rng)
                let len = Int.random(in: 1...min(maxIOSize, size - off), using: &rng)
                guard let map = mmap(nil, size, PROT_READ, MAP_SHARED, fds[f], 0), map != MAP_FAILED else {
                    throw ConformanceFailure("mmap", "\(path) size \(size): \(Posix.errnoText())")
                }
                let got = Array(UnsafeRawBufferPointer(start: map + off, count: len))
                munmap(map, size)
                let want = Array(mirrors[f][off..<off + len])
                if got != want { mismatch(i, "mmap read \(path) [\(off), +\(len)): \(describe(got, want))") }
                note("mmapread")
            case 85..<95:
                Posix.close(fds[f])
                fds[f] = -1
                if roll < 88 {
                    fds[f] = try Posix.open(path, O_RDWR | O_TRUNC)
                    mirrors[f] = []
                    note("reopen-trunc")
                } else {
                    fds[f] = try Posix.open(path, O_RDWR)
                    note("reopen")
                }
            default:
                var st = Glibc.stat()
                try Posix.check("fstat", path, fstat(fds[f], &st))
                if Int(st.st_size) != mirrors[f].count { mismatch(i, "fstat \(path): size \(st.st_size), expected \(mirrors[f].count)") }
                if roll >= 98 { try Posix.check("fsync", path, fsync(fds[f])) }
                note("stat")
            }
            afterOperation?(i)
        }
        for f in 0..<files {
            Posix.close(fds[f])
            fds[f] = -1
            let got = try Posix.readFile(paths[f])
            if got != mirrors[f] { mismatch(operations, "final contents of \(paths[f]): \(describe(got, mirrors[f]))") }
        }
        return report
    }

    private func describe(_ got: [UInt8], _ want: [UInt8]) -> String {
        if got.count != want.count { return "got \(got.count) bytes, expected \(want.count)" }
        for i in 0..<got.count where got[i] != want[i] { return "first difference at +\(i): \(got[i]) vs \(want[i])" }
        return "equal"
    }
}
