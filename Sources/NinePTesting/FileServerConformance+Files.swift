import NinePWire

// open(5), read(5), write, directory reads and stat(5): the checks about
// file contents and entries.
extension FileServerConformance {
    func openRead(_ c: CheckContext) async throws {
        let s = c.s
        let qid = try await s.makeFile(c.work, "f", .utf8("hello, world"))
        let fid = try await s.walkAll(c.work, ["f"])
        let opened = try await s.open(fid, .read)
        try s.expect(opened.qid.same(qid), "Ropen qid \(opened.qid) is not the file's \(qid)")
        try s.expect(try await s.read(fid) == .utf8("hello, world"), "OREAD read the wrong contents")
        try await s.refusal(.twrite(Twrite(fid: fid, offset: 0, data: .init(bytes: [1]))), "Twrite on a fid opened OREAD")
        try s.expect(try await s.contents(c.work, "f") == .utf8("hello, world"), "a refused write changed the file")
    }

    func openWrite(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "f", .utf8("0123456789"))
        let fid = try await s.walkAll(c.work, ["f"])
        try await s.open(fid, .write)
        try await s.write(fid, .utf8("ab"), at: 2)
        try await s.refusal(.tread(Tread(fid: fid, offset: 0, count: 10)), "Tread on a fid opened OWRITE")
        try await s.clunk(fid)
        try s.expect(try await s.contents(c.work, "f") == .utf8("01ab456789"), "OWRITE at offset 2 did not land")
        if c.hostWork != nil {
            try s.expect(try Posix.readFile(try c.host("f")) == .utf8("01ab456789"), "the host file does not hold the write")
        }
    }

    func openReadWrite(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "f", .utf8("0123456789"))
        let fid = try await s.walkAll(c.work, ["f"])
        try await s.open(fid, .readWrite)
        try await s.write(fid, .utf8("XY"), at: 0)
        try s.expect(try await s.read(fid) == .utf8("XY23456789"), "ORDWR did not read back its own write")
        try await s.write(fid, .utf8("!"), at: 10)
        try s.expect(try await s.read(fid, offset: 9) == .utf8("9!"), "ORDWR did not read back an appended byte")
    }

    func openExec(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "x", .utf8("#!/bin/sh\n"), perm: 0o755)
        let fid = try await s.walkAll(c.work, ["x"])
        try await s.open(fid, .exec)
        // lib9p and the kernel let OEXEC read (that is how a binary is loaded).
        try s.expect(try await s.read(fid) == .utf8("#!/bin/sh\n"), "OEXEC did not read the file")
        try await s.refusal(.twrite(Twrite(fid: fid, offset: 0, data: .init(bytes: [1]))), "Twrite on a fid opened OEXEC")
        guard c.capabilities.supportsExecutableBits else { return }
        let st = try await s.stat(fid)
        try s.expect(st.mode.permissions == 0o755, "a file created 0755 has permissions \(String(st.mode.permissions, radix: 8))")
        _ = try await s.makeFile(c.work, "nx", .utf8("data"), perm: 0o644)
        let plain = try await s.walkAll(c.work, ["nx"])
        try await s.refusal(.topen(Topen(fid: plain, mode: .exec)), "OEXEC of a file without execute permission")
        try await s.open(plain, .read)
    }

    func openTruncate(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "t", .pattern(count: 100, seed: 1))
        let fid = try await s.walkAll(c.work, ["t"])
        try await s.open(fid, OpenMode.write.with(truncate: true))
        let length = try await s.stat(fid).length
        try s.expect(length == 0, "OWRITE|OTRUNC left length \(length)")
        try await s.clunk(fid)
        try s.expect(try await s.contents(c.work, "t").isEmpty, "OTRUNC did not empty the file")
        _ = try await s.makeFile(c.work, "u", .pattern(count: 50, seed: 2))
        let rw = try await s.walkAll(c.work, ["u"])
        try await s.open(rw, OpenMode.readWrite.with(truncate: true))
        try s.expect(try await s.read(rw).isEmpty, "ORDWR|OTRUNC read old contents")
        try await s.write(rw, .utf8("new"))
        try s.expect(try await s.read(rw) == .utf8("new"), "ORDWR|OTRUNC did not read back the new contents")
        if c.hostWork != nil {
            try s.expect(try Posix.readFile(try c.host("t")).isEmpty, "the host file was not truncated")
        }
    }

    func openRemoveOnClose(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "r", .utf8("x"))
        let fid = try await s.walkAll(c.work, ["r"])
        try await s.open(fid, OpenMode.read.with(removeOnClose: true))
        try s.expect(try await s.exists(c.work, "r"), "ORCLOSE removed the file before the clunk")
        try await s.clunk(fid)
        try s.expect(try !(await s.exists(c.work, "r")), "ORCLOSE: the file is still there after the clunk")
        // A file created ORCLOSE goes the same way.
        let created = try await s.clone(c.work)
        try await s.create(created, "rc", perm: FileMode(permissions: 0o644), mode: OpenMode.write.with(removeOnClose: true))
        try await s.write(created, .utf8("temporary"))
        try s.expect(try await s.exists(c.work, "rc"), "a file created ORCLOSE vanished before the clunk")
        try await s.clunk(created)
        try s.expect(try !(await s.exists(c.work, "rc")), "a file created ORCLOSE is still there after the clunk")
        if c.hostWork != nil {
            try s.expect(c.hostStatus(try c.host("r")) == nil && c.hostStatus(try c.host("rc")) == nil, "ORCLOSE files remain on the host")
        }
    }

    func openDirectoryForWritingRefused(_ c: CheckContext) async throws {
        let s = c.s
        let dir = try await s.makeDirectory(c.work, "d")
        // open(5): "It is illegal to write a directory, truncate it, or attempt to remove it on close."
        for mode in [OpenMode.write, .readWrite, OpenMode.write.with(truncate: true), OpenMode.read.with(truncate: true)] {
            let fid = try await s.clone(dir)
            try await s.refusal(.topen(Topen(fid: fid, mode: mode)), "open of a directory \(mode)")
            try await s.open(fid, .read)  // the refusal left the fid unopened
            try await s.clunk(fid)
        }
        let creating = try await s.clone(c.work)
        try await s.refusal(
            .tcreate(Tcreate(fid: creating, name: "wd", perm: FileMode(permissions: 0o755, flags: .dir), mode: .write)),
            "create of a directory opened OWRITE")
    }

    func openTwiceRefused(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "f", .utf8("f"))
        let fid = try await s.walkAll(c.work, ["f"])
        try await s.open(fid, .read)
        try await s.refusal(.topen(Topen(fid: fid, mode: .read)), "a second open of an open fid")
        try await s.refusal(.topen(Topen(fid: fid, mode: .write)), "a second open (OWRITE) of an open fid")
        try s.expect(try await s.read(fid) == .utf8("f"), "the fid no longer reads after a refused second open")
    }

    func createFile(_ c: CheckContext) async throws {
        let s = c.s
        let fid = try await s.clone(c.work)
        let qid = try await s.create(fid, "new", perm: FileMode(permissions: 0o640), mode: .write)
        try s.expect(!qid.isDirectory, "Rcreate of a file gave a directory qid \(qid)")
        try await s.write(fid, .utf8("data"))
        try await s.refusal(.tread(Tread(fid: fid, offset: 0, count: 4)), "Tread on a file created OWRITE")
        let st = try await s.stat(fid)
        try s.expect(st.name == "new" && st.qid.same(qid) && st.length == 4, "the created file has stat \(st)")
        try s.expect(st.mode.permissions == 0o640 && !st.mode.isDirectory, "the created file has mode \(st.mode)")
        let (_, walked) = try await s.walk(c.work, ["new"])
        try s.expect(walked.same([qid]), "walking to the created file gave \(walked), Rcreate \(qid)")
        if c.hostWork != nil {
            let host = try c.host("new")
            try s.expect(try Posix.readFile(host) == .utf8("data"), "the host file does not hold the data")
            try s.expect(c.hostStatus(host).map { $0.st_mode & 0o777 } == 0o640, "the host file's mode is not 0640")
        }
    }

    func createDirectory(_ c: CheckContext) async throws {
        let s = c.s
        let fid = try await s.clone(c.work)
        let qid = try await s.create(fid, "sub", perm: FileMode(permissions: 0o750, flags: .dir), mode: .read)
        try s.expect(qid.isDirectory, "Rcreate of a directory gave qid \(qid) without QTDIR")
        try s.expect(try await s.read(fid).isEmpty, "a new directory read as non-empty")
        let st = try await s.stat(fid)
        try s.expect(st.mode.isDirectory && st.qid.isDirectory && st.mode.permissions == 0o750, "the new directory has stat \(st)")
        let inside = try await s.walkAll(c.work, ["sub"])
        _ = try await s.makeFile(inside, "f", .utf8("in"))
        try s.expect(try await s.contents(inside, "f") == .utf8("in"), "cannot use a file in the new directory")
        if c.hostWork != nil {
            let host = c.hostStatus(try c.host("sub"))
            try s.expect(host.map { $0.st_mode & 0o170000 == 0o040000 && $0.st_mode & 0o777 == 0o750 } == true, "the host directory is not a 0750 directory")
        }
    }

    func createExistingRefused(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "f", .utf8("keep"))
        _ = try await s.makeDirectory(c.work, "d")
        let fid = try await s.clone(c.work)
        try await s.refusal(.tcreate(Tcreate(fid: fid, name: "f", perm: FileMode(permissions: 0o644), mode: .write)), "create of an existing file")
        try await s.refusal(
            .tcreate(Tcreate(fid: fid, name: "d", perm: FileMode(permissions: 0o755, flags: .dir), mode: .read)), "create of an existing directory")
        try await s.refusal(.tcreate(Tcreate(fid: fid, name: "d", perm: FileMode(permissions: 0o644), mode: .write)), "create of a file over a directory")
        try s.expect(try await s.contents(c.work, "f") == .utf8("keep"), "a refused create changed the existing file")
        // The fid is still the unopened directory.
        try s.expect(try await s.stat(fid).qid.same(c.workQid), "a refused create moved the fid")
        _ = try await s.walk(fid, ["f"])
    }

    func createInFileRefused(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "f", .utf8("f"))
        let fid = try await s.walkAll(c.work, ["f"])
        try await s.refusal(.tcreate(Tcreate(fid: fid, name: "x", perm: FileMode(permissions: 0o644), mode: .write)), "create in a file")
        try await s.refusal(
            .tcreate(Tcreate(fid: fid, name: "y", perm: FileMode(permissions: 0o755, flags: .dir), mode: .read)), "create of a directory in a file")
        try s.expect(try await s.list(c.work).map(\.name) == ["f"], "a create in a file left entries beside it")
    }

    func createPermissionRule(_ c: CheckContext) async throws {
        let s = c.s
        // open(5): the new file's permissions are perm & (~0666 | (dir.perm & 0666)),
        // a new directory's perm & (~0777 | (dir.perm & 0777)).
        let dir = try await s.makeDirectory(c.work, "d", perm: 0o750)
        try s.expect(try await s.stat(dir).mode.permissions == 0o750, "a directory created 0750 in a 0755 one has another mode")
        let cases: [(String, FileMode, UInt32)] = [
            ("f777", FileMode(permissions: 0o777), 0o751),
            ("f666", FileMode(permissions: 0o666), 0o640),
            ("f600", FileMode(permissions: 0o600), 0o600),
            ("d777", FileMode(permissions: 0o777, flags: .dir), 0o750),
            ("d705", FileMode(permissions: 0o705, flags: .dir), 0o700),
        ]
        for (name, perm, expected) in cases {
            let fid = try await s.clone(dir)
            try await s.create(fid, name, perm: perm, mode: .read)
            let got = try await s.stat(fid).mode.permissions
            try s.expect(
                got == expected,
                "create \(name) with perm 0\(String(perm.permissions, radix: 8)) in a 0750 directory gave 0\(String(got, radix: 8)), expected 0\(String(expected, radix: 8))")
            try await s.clunk(fid)
            if c.hostWork != nil {
                let host = c.hostStatus(try c.host("d/" + name)).map { UInt32($0.st_mode & 0o777) }
                try s.expect(host == expected, "the host's \(name) has mode \(host.map { String($0, radix: 8) } ?? "none")")
            }
        }
    }

    func createBadNamesRefused(_ c: CheckContext) async throws {
        let s = c.s
        for name in ["", ".", "..", "a/b", "/", "../escape", "nul\u{0}byte"] {
            let fid = try await s.clone(c.work)
            try await s.refusal(.tcreate(Tcreate(fid: fid, name: name, perm: FileMode(permissions: 0o644), mode: .write)), "create '\(name.debugDescription)'")
            try await s.refusal(
                .tcreate(Tcreate(fid: fid, name: name, perm: FileMode(permissions: 0o755, flags: .dir), mode: .read)),
                "create of directory '\(name.debugDescription)'")
            try await s.clunk(fid)
        }
        let left = try await s.list(c.work).map(\.name)
        try s.expect(left.isEmpty, "refused creates left entries: \(left)")
    }

    func readWriteAtOffsets(_ c: CheckContext) async throws {
        let s = c.s
        let fid = try await s.clone(c.work)
        try await s.create(fid, "o", perm: FileMode(permissions: 0o644), mode: .readWrite)
        try await s.write(fid, .utf8("abc"), at: 0)
        try await s.write(fid, .utf8("xyz"), at: 10)
        var mirror: [UInt8] = .utf8("abc") + [UInt8](repeating: 0, count: 7) + .utf8("xyz")
        try s.expect(try await s.read(fid, count: 100) == mirror, "a write past the end did not leave a hole of zeros")
        try s.expect(try await s.read(fid, offset: 4, count: 3) == [0, 0, 0], "the hole does not read as zeros")
        try await s.write(fid, .utf8("Q"), at: 1)
        mirror[1] = UInt8(ascii: "Q")
        try s.expect(try await s.read(fid, count: 100) == mirror, "an overwrite in the middle went wrong")
        try s.expect(try await s.stat(fid).length == 13, "length after the writes is not 13")
        // A full-size write far out, read back in one piece.
        let big = [UInt8].pattern(count: Int(s.iounit), seed: 7)
        try await s.write(fid, big, at: 100_000)
        try s.expect(try await s.read(fid, offset: 100_000) == big, "a write of iounit bytes at 100000 did not read back")
        try s.expect(try await s.read(fid, offset: 50_000, count: 16) == [UInt8](repeating: 0, count: 16), "the large hole does not read as zeros")
        try s.expect(try await s.stat(fid).length == 100_000 + UInt64(big.count), "length after the far write is wrong")
        if c.hostWork != nil {
            let host = try Posix.readFile(try c.host("o"))
            try s.expect(host.count == 100_000 + big.count && Array(host.prefix(13)) == mirror, "the host file does not match the writes")
        }
    }

    func readPastEndReturnsNothing(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "e", .utf8("0123456789"))
        _ = try await s.makeFile(c.work, "empty")
        let fid = try await s.walkAll(c.work, ["e"])
        try await s.open(fid, .read)
        for offset: UInt64 in [10, 11, 4096, 1 << 40, UInt64(Int64.max)] {
            try s.expect(try await s.read(fid, offset: offset, count: 100).isEmpty, "a read at offset \(offset) of a 10-byte file returned data")
        }
        try s.expect(try await s.read(fid, offset: 8, count: 100) == .utf8("89"), "a read across the end was not cut short")
        try s.expect(try await s.read(fid, offset: 3, count: 0).isEmpty, "a read of count 0 returned data")
        let empty = try await s.walkAll(c.work, ["empty"])
        try await s.open(empty, .read)
        try s.expect(try await s.read(empty).isEmpty, "an empty file returned data")
    }

    func countAboveIounitRefused(_ c: CheckContext) async throws {
        let s = c.s
        let limit = s.iounit
        let fid = try await s.clone(c.work)
        try await s.create(fid, "c", perm: FileMode(permissions: 0o644), mode: .readWrite)
        let data = [UInt8].pattern(count: Int(limit), seed: 3)
        try await s.write(fid, data)
        try s.expect(try await s.read(fid, count: limit) == data, "a read of msize − IOHDRSZ bytes did not return them all")
        try await s.write(fid, [1, 2, 3], at: UInt64(limit))
        // A Twrite one byte over the limit still fits the frame (23 + count ≤ msize).
        try await s.refusal(.tread(Tread(fid: fid, offset: 0, count: limit + 1)), "Tread of count msize − IOHDRSZ + 1")
        try await s.refusal(.tread(Tread(fid: fid, offset: 0, count: .max)), "Tread of count 2³² − 1")
        try await s.refusal(
            .twrite(Twrite(fid: fid, offset: 0, data: .init(bytes: [UInt8](repeating: 9, count: Int(limit) + 1)))),
            "Twrite of msize − IOHDRSZ + 1 bytes")
        try s.expect(try await s.read(fid, count: 8) == Array(data.prefix(8)), "a refused write changed the file")
        try s.expect(try await s.stat(fid).length == UInt64(limit) + 3, "a refused write changed the length")
    }

    func directoryReadEveryEntryOnce(_ c: CheckContext) async throws {
        let s = c.s
        var expected: [String: Qid] = [:]
        for i in 0..<40 {
            let name = "e\(i)-" + String(repeating: "x", count: (i * 7) % 61)
            expected[name] = try await s.makeFile(c.work, name, .pattern(count: i, seed: UInt64(i)))
        }
        for i in 0..<3 {
            let dir = try await s.makeDirectory(c.work, "dir\(i)")
            expected["dir\(i)"] = try await s.stat(dir).qid
        }
        let whole = try await s.list(c.work)
        let largest = UInt32(whole.map(\.wireSize).max() ?? 0)
        // Counts from "exactly the largest entry" (one entry per read) up.
        for count in [largest, largest + 1, largest * 2 - 1, largest * 3 + 17, s.iounit] {
            let listed = try await s.list(c.work, count: count)
            let names = listed.map(\.name)
            try s.expect(
                names.count == expected.count && Set(names) == Set(expected.keys),
                "reading with count \(count) listed \(names.count) entries (\(Set(names).count) distinct) for \(expected.count) files; missing \(Set(expected.keys).subtracting(names).sorted().prefix(5)), extra \(Set(names).subtracting(expected.keys).sorted().prefix(5))")
            for entry in listed {
                try s.expect(entry.qid.same(expected[entry.name]!), "the entry for \(entry.name) has qid \(entry.qid), the file \(expected[entry.name]!)")
                try s.expect(entry.qid.isDirectory == entry.mode.isDirectory, "the entry for \(entry.name) has qid type \(entry.qid.type) but mode \(entry.mode)")
            }
        }
    }

    func directoryReadOffsetRules(_ c: CheckContext) async throws {
        let s = c.s
        for i in 0..<6 { _ = try await s.makeFile(c.work, "file\(i)") }
        let largest = UInt32(try await s.list(c.work).map(\.wireSize).max() ?? 0)
        let dir = try await s.clone(c.work)
        try await s.open(dir, .read)
        let first = try await s.read(dir, offset: 0, count: largest)
        let firstEntries = try s.decodeEntries(first, "the first directory read")
        try s.expect(firstEntries.count == 1, "a read of count \(largest) returned \(firstEntries.count) entries")
        let end = UInt64(first.count)
        // read(5): "the offset must be zero or the offset returned by the previous read".
        for bad in [end + 1, end - 1, 1, end * 2] where bad != end && bad != 0 {
            try await s.refusal(.tread(Tread(fid: dir, offset: bad, count: largest)), "a directory read at offset \(bad) after one ending at \(end)")
        }
        let second = try s.decodeEntries(try await s.read(dir, offset: end, count: largest), "the second directory read")
        try s.expect(second.count == 1 && second[0].name != firstEntries[0].name, "the read continuing at \(end) repeated or missed an entry")
        let again = try s.decodeEntries(try await s.read(dir, offset: 0, count: largest), "a read at offset 0 again")
        try s.expect(again.map(\.name) == firstEntries.map(\.name), "a read at offset 0 did not restart the listing")
        // A count too small for the next entry must not look like the end.
        let tiny = try await s.call(.tread(Tread(fid: dir, offset: 0, count: 10)))
        switch tiny {
        case .rerror: break
        case .rread(let r): throw s.failure("a directory read of count 10 answered \(r.data.readableBytes) bytes, expected Rerror (no entry fits)")
        default: throw s.failure("a directory read of count 10 answered \(tiny)")
        }
    }

    func statFields(_ c: CheckContext) async throws {
        let s = c.s
        let qid = try await s.makeFile(c.work, "s", .pattern(count: 1234, seed: 9), perm: 0o640)
        let (fid, walked) = try await s.walk(c.work, ["s"])
        let st = try await s.stat(fid)
        try s.expect(st.name == "s", "stat name '\(st.name)', expected 's'")
        try s.expect(st.length == 1234, "stat length \(st.length), expected 1234")
        try s.expect(st.qid.same(qid) && walked.same([st.qid]), "stat qid \(st.qid), Rcreate \(qid), Rwalk \(walked)")
        try s.expect(st.qid.type == st.mode.qidType, "qid type \(st.qid.type) does not echo the mode's top bits \(st.mode.qidType)")
        try s.expect(!st.mode.isDirectory && st.mode.permissions == 0o640, "mode \(st.mode), expected -rw-r-----")
        try s.expect(!st.uid.isEmpty && !st.gid.isEmpty, "uid '\(st.uid)' gid '\(st.gid)': both must be named")
        let dir = try await s.stat(c.work)
        try s.expect(dir.name == c.workName, "the directory's stat name is '\(dir.name)'")
        try s.expect(dir.mode.isDirectory && dir.qid.isDirectory && dir.qid.type == dir.mode.qidType, "the directory has mode \(dir.mode), qid \(dir.qid)")
        // The entry in a directory listing is the same stat.
        let listed = try await s.list(c.work)
        try s.expect(listed.count == 1, "the directory lists \(listed.count) entries, expected 1")
        let entry = listed[0]
        try s.expect(
            entry.name == st.name && entry.qid.same(st.qid) && entry.mode == st.mode && entry.length == st.length
                && entry.uid == st.uid && entry.gid == st.gid,
            "the directory entry \(entry) disagrees with Tstat \(st)")
        if c.hostWork != nil {
            let host = c.hostStatus(try c.host("s"))
            try s.expect(host.map { UInt64($0.st_size) } == st.length, "the host file's size disagrees with stat")
            try s.expect(host.map { UInt32($0.st_mtim.tv_sec) } == st.mtime, "the host file's mtime disagrees with stat")
        }
    }
}
