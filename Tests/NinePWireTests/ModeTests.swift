import NinePWire
import Testing

/// open(5)'s mode byte and stat(5)'s mode word.
@Suite struct ModeTests {
    @Test("OpenMode splits access from the OTRUNC and ORCLOSE bits")
    func openModeAccess() {
        let cases: [(OpenMode, read: Bool, write: Bool)] = [
            (.read, true, false), (.write, false, true), (.readWrite, true, true), (.exec, true, false),
        ]
        for (mode, read, write) in cases {
            #expect(mode.allowsRead == read, "\(mode)")
            #expect(mode.allowsWrite == write, "\(mode)")
            let decorated = mode.with(truncate: true, removeOnClose: true)
            #expect(decorated.rawValue == mode.rawValue | 0x50)
            #expect(decorated.access == mode)
            #expect(decorated.allowsRead == read)
            #expect(decorated.allowsWrite == write)
            #expect(decorated.truncate && decorated.removeOnClose)
            #expect(!mode.truncate && !mode.removeOnClose)
        }
        #expect(OpenMode.write.with(truncate: true).rawValue == 0x11)
        #expect(OpenMode.read.with(removeOnClose: true).rawValue == 0x40)
        // with(...) replaces the flags rather than adding to them.
        #expect(OpenMode(rawValue: 0x52).with(truncate: false) == .readWrite)
    }

    @Test("OpenMode descriptions name the <libc.h> constants", arguments: [
        (UInt8(0), "OREAD"), (1, "OWRITE"), (2, "ORDWR"), (3, "OEXEC"),
        (0x11, "OWRITE|OTRUNC"), (0x40, "OREAD|ORCLOSE"), (0x52, "ORDWR|OTRUNC|ORCLOSE"), (0x80, "OREAD|0x80"),
        (0xff, "OEXEC|OTRUNC|ORCLOSE|0xac"),
    ])
    func openModeDescription(_ raw: UInt8, _ text: String) {
        #expect(OpenMode(rawValue: raw).description == text)
    }

    @Test("FileMode reads like ls -l", arguments: [
        (FileMode(permissions: 0o755, flags: .dir), "drwxr-xr-x"),
        (FileMode(permissions: 0o644), "-rw-r--r--"),
        (FileMode(permissions: 0o620, flags: .append), "arw--w----"),
        (FileMode(permissions: 0o600, flags: .exclusive), "lrw-------"),
        (FileMode(rawValue: 0), "----------"),
        (FileMode(rawValue: 0o7777), "-rwxrwxrwx"),
        (FileMode(permissions: 0o501, flags: [.dir, .append]), "dr-x-----x"),
    ])
    func fileModeDescription(_ mode: FileMode, _ text: String) {
        #expect(mode.description == text)
    }

    @Test("FileMode's top byte is the qid type")
    func fileModeQidType() {
        #expect(FileMode(permissions: 0o755, flags: .dir).qidType == .dir)
        #expect(FileMode([.dir, .append, .exclusive, .mount, .auth, .tmp]).qidType == [.dir, .append, .exclusive, .mount, .auth, .tmp])
        #expect(FileMode(permissions: 0o644).qidType == .file)
        #expect(FileMode(permissions: 0o644).isDirectory == false)
        #expect(FileMode.dir.isDirectory)
        #expect(FileMode(permissions: 0o1777).permissions == 0o777)
        #expect(FileMode(permissions: 0o1777).rawValue == 0o777, "permissions: keeps only rwxrwxrwx")
        #expect(FileMode.dir.rawValue == 0x8000_0000)
        #expect(FileMode.append.rawValue == 0x4000_0000)
        #expect(FileMode.exclusive.rawValue == 0x2000_0000)
        #expect(FileMode.tmp.rawValue == 0x0400_0000)
    }

    @Test("QidType describes its bits")
    func qidTypeDescription() {
        #expect(QidType.dir.description == "d")
        #expect(QidType.file.description == "")
        #expect(QidType([.dir, .append, .exclusive, .mount, .auth, .tmp, .symlink]).description == "dalmAtL")
        #expect(Qid(type: .dir, version: 3, path: 0x1f).description == "(1f 3 'd')")
    }
}
