import NinePWire
import Testing

/// stat(5)'s directory entry and Twstat's "don't touch" values.
@Suite struct StatTests {
    @Test("Stat.dontTouch is all maxima and empty strings, and changes nothing")
    func dontTouch() {
        let d = Stat.dontTouch
        #expect(d.isAllDontTouch)
        #expect(d.type == .max && d.dev == .max && d.atime == .max && d.mtime == .max && d.length == .max)
        #expect(d.mode.rawValue == .max)
        #expect(d.qid == Qid(type: QidType(rawValue: 0xff), version: .max, path: .max))
        #expect(d.name.isEmpty && d.uid.isEmpty && d.gid.isEmpty && d.muid.isEmpty)
        #expect(!d.changesName && !d.changesMode && !d.changesLength && !d.changesMtime)
        #expect(!d.changesAtime && !d.changesGid && !d.changesUid)
    }

    @Test("touching any one field makes it not all don't-touch")
    func anyChange() {
        let touches: [(String, (inout Stat) -> Void)] = [
            ("type", { $0.type = 0 }), ("dev", { $0.dev = 0 }), ("qid", { $0.qid.path = 0 }),
            ("mode", { $0.mode = FileMode(rawValue: 0o644) }), ("atime", { $0.atime = 0 }),
            ("mtime", { $0.mtime = 0 }), ("length", { $0.length = 0 }), ("name", { $0.name = "x" }),
            ("uid", { $0.uid = "x" }), ("gid", { $0.gid = "x" }), ("muid", { $0.muid = "x" }),
        ]
        for (field, touch) in touches {
            var s = Stat.dontTouch
            touch(&s)
            #expect(!s.isAllDontTouch, "\(field)")
        }
    }

    @Test("the changes… flags follow the field they name")
    func changesFlags() {
        var s = Stat.dontTouch
        s.name = "new"
        s.length = 0
        #expect(s.changesName && s.changesLength)
        #expect(!s.changesMode && !s.changesMtime && !s.changesAtime && !s.changesGid && !s.changesUid)
        s.mode = FileMode(rawValue: 0o600)
        s.mtime = 5
        s.atime = 6
        s.gid = "sys"
        s.uid = "glenda"
        #expect(s.changesMode && s.changesMtime && s.changesAtime && s.changesGid && s.changesUid)
    }

    @Test("wireSize counts the fixed 41 bytes and the UTF-8 bytes of the four strings")
    func wireSize() {
        #expect(Stat(qid: Qid(path: 0), mode: [], name: "").wireSize == 49)
        #expect(Stat.dontTouch.wireSize == 49)
        #expect(statCafe.wireSize == 41 + 7 + 8 + 5 + 8)
    }

    @Test("description, in the manner of lib9p's %D")
    func description() {
        #expect(statCafe.description == "'café' 'glenda' 'sys' '日本' q (2c 1 '') m 644 at 1600000000 mt 1700000000 l 6 t 0 d 0")
    }
}
