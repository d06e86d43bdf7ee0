import NIOCore
import NinePWire
import Testing

/// The 9P2000.L and 9P2000.u primitives: directory entries, attributes, and
/// the constants as Linux's 9p.h and diod's protocol.md define them.
@Suite struct DotLPrimitiveTests {
    @Test("diod's Rreaddir data reads as its five entries, and writes back byte for byte")
    func diodDirEntries() throws {
        var data = diodReaddirData
        var entries: [DirEntry] = []
        while data.readableBytes > 0 { entries.append(try data.readDirEntry()) }
        #expect(entries == diodReaddirEntries)
        var written = ByteBuffer()
        var total = 0
        for e in entries { total += written.writeDirEntry(e) }
        #expect(written == diodReaddirData)
        #expect(total == diodReaddirData.readableBytes)
        #expect(entries.map(\.wireSize).reduce(0, +) == total)
    }

    @Test("a directory entry cut anywhere is an error, never a trap")
    func dirEntryCut() {
        let whole = diodReaddirData.getSlice(at: 0, length: DirEntry(qid: qidExport, offset: 0, type: 4, name: ".").wireSize)!
        for length in 0..<whole.readableBytes {
            var cut = whole.getSlice(at: 0, length: length)!
            #expect(throws: WireError.self) { _ = try cut.readDirEntry() }
        }
    }

    @Test("Linux open flags as they travel (9p.h P9_DOTL_*, octal)")
    func openFlags() {
        let expected: [(LinuxOpenFlags, UInt32)] = [
            (.writeOnly, 0o1), (.readWrite, 0o2), (.noAccess, 0o3), (.create, 0o100), (.exclusive, 0o200),
            (.noControllingTTY, 0o400), (.truncate, 0o1000), (.append, 0o2000), (.nonBlocking, 0o4000),
            (.dataSync, 0o10000), (.async, 0o20000), (.direct, 0o40000), (.largeFile, 0o100000),
            (.directory, 0o200000), (.noFollow, 0o400000), (.noAccessTime, 0o1000000),
            (.closeOnExec, 0o2000000), (.sync, 0o4000000),
        ]
        for (flag, raw) in expected { #expect(flag.rawValue == raw) }
        #expect(LinuxOpenFlags.readOnly.rawValue == 0)
        // diod's sample session: "P9_TLCREATE ... flags 0x8241" is O_LARGEFILE|O_TRUNC|O_CREAT|O_WRONLY.
        let lcreate = LinuxOpenFlags(rawValue: 0x8241)
        #expect(lcreate == [.largeFile, .truncate, .create, .writeOnly])
        #expect(lcreate.access == .writeOnly && lcreate.allowsWrite && !lcreate.allowsRead)
        #expect(LinuxOpenFlags.readWrite.allowsRead && LinuxOpenFlags.readWrite.allowsWrite)
        #expect(LinuxOpenFlags([.directory]).allowsRead && !LinuxOpenFlags.noAccess.allowsRead)
        #expect(LinuxOpenFlags(rawValue: 0o2304000).description == "02304000")
    }

    @Test("getattr and setattr masks (protocol.md)")
    func masks() {
        #expect(GetattrMask.basic == [.mode, .nlink, .uid, .gid, .rdev, .atime, .mtime, .ctime, .ino, .size, .blocks])
        #expect(GetattrMask.all == GetattrMask.basic.union([.btime, .gen, .dataVersion]))
        #expect(GetattrMask.all.rawValue == 0x3fff && GetattrMask.dataVersion.rawValue == 0x2000)
        let setattr: [(SetattrMask, UInt32)] = [
            (.mode, 0x1), (.uid, 0x2), (.gid, 0x4), (.size, 0x8), (.atime, 0x10), (.mtime, 0x20), (.ctime, 0x40),
            (.atimeSet, 0x80), (.mtimeSet, 0x100),
        ]
        for (bit, raw) in setattr { #expect(bit.rawValue == raw) }
        // diod's sample session: chmod sends "valid 0x41": MODE|CTIME.
        #expect(SetattrMask(rawValue: 0x41) == [.mode, .ctime])
        #expect(LinuxAttributes.wireSize == 153)
    }

    @Test("lock types, flags and statuses; AT_REMOVEDIR; xattr flags")
    func lockConstants() {
        #expect([LockType.readLock, .writeLock, .unlock].map(\.rawValue) == [0, 1, 2])
        #expect(LockFlags.block.rawValue == 1 && LockFlags.reclaim.rawValue == 2)
        #expect([LockStatus.success, .blocked, .error, .grace].map(\.rawValue) == [0, 1, 2, 3])
        #expect(LockStatus.blocked.description == "BLOCKED" && LockType(rawValue: 9).description == "lock type 9")
        #expect(Tunlinkat.removeDirectory == 0x200)
        #expect(Txattrcreate.create == 1 && Txattrcreate.replace == 2)
    }

    @Test("9P2000.u mode and qid bits (9p.h)")
    func dotUBits() {
        let bits: [(FileMode, UInt32)] = [
            (.symlink, 0x0200_0000), (.link, 0x0100_0000), (.device, 0x0080_0000), (.namedPipe, 0x0020_0000),
            (.socket, 0x0010_0000), (.setuid, 0x0008_0000), (.setgid, 0x0004_0000), (.setvtx, 0x0001_0000),
        ]
        for (bit, raw) in bits { #expect(bit.rawValue == raw) }
        #expect(QidType.symlink.rawValue == 0x02 && QidType.link.rawValue == 0x01)
        #expect(FileMode.symlink.qidType == .symlink && FileMode.link.qidType == .link)
        #expect(NineP.nonuname == 0xFFFF_FFFF)
    }

    @Test("a 9P2000.u stat entry: size counts the four new fields; 9P2000 leaves them out")
    func dotUStat() throws {
        #expect(statCafeU.wireSize(for: .ninep2000u) == statCafeU.wireSize + 2 + 12)
        #expect(statCafeU.wireSize(for: .ninep2000L) == statCafeU.wireSize)
        var u = ByteBuffer()
        #expect(u.writeStat(statCafeU, version: .ninep2000u) == 83)
        #expect(try u.readStat(version: .ninep2000u) == statCafeU)
        var plain = ByteBuffer()
        plain.writeStat(statCafeU, version: .ninep2000)
        // Read back under 9P2000, the numeric ids take their "none" default.
        #expect(try plain.readStat() == statCafe)
        #expect(statCafe.nUid == NineP.nonuname && statCafe.extension.isEmpty)
        // Stat.dontTouch is "don't touch" in .u as well: ~0 ids, empty extension.
        #expect(Stat.dontTouch.nUid == .max && Stat.dontTouch.nGid == .max && Stat.dontTouch.nMuid == .max)
    }

    @Test("the optional fields travel only in their dialects")
    func optionalFields() {
        let attach = Fcall(tag: Tag(1), .tattach(Tattach(fid: Fid(0), uname: "u", aname: "", nUname: 7)))
        #expect(attach.encodedSize(version: .ninep2000) + 4 == attach.encodedSize(version: .ninep2000u))
        #expect(attach.encodedSize(version: .ninep2000u) == attach.encodedSize(version: .ninep2000L))
        let error = Fcall(tag: Tag(1), .rerror(Rerror(ename: "x", errno: 5)))
        #expect(error.encodedSize(version: .ninep2000) + 4 == error.encodedSize(version: .ninep2000u))
        let create = Fcall(tag: Tag(1), .tcreate(Tcreate(fid: Fid(0), name: "n", perm: [], mode: .read, extension: "abc")))
        #expect(create.encodedSize(version: .ninep2000) + 5 == create.encodedSize(version: .ninep2000u))
    }

    @Test("transcripts of .L messages name their fields")
    func descriptions() {
        #expect(golden("L Tlcreate to diod").fcall.description == "Tlcreate tag 1 fid 1 name new flags 0102 mode 0644 gid 0")
        #expect(golden("L Rlerror diod").fcall.description == "Rlerror tag 0 ecode 2")
        #expect(golden("L Tattach diodls").fcall.description
            == "Tattach tag 0 fid 0 afid NOFID uname  aname /tmp/cap/export n_uname 0")
        #expect(golden("U Rerror").fcall.description == "Rerror tag 3 ename file does not exist errno 2")
        for sample in allSamples { #expect(!sample.fcall.description.isEmpty) }
    }
}
