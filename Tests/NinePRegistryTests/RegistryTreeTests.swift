import NinePWire
import Testing
@testable import NinePRegistry

@Suite struct RegistryTreeTests {
    @Test func postLookupAndRemove() throws {
        var t = RegistryTree(owner: "glenda")
        let id = try t.create(in: RegistryTree.root, name: "ramfs", owner: "glenda", now: 1)
        try t.post(id, address: "unix!/tmp/ns/ramfs\n", now: 2)
        #expect(t.resolve(["ramfs"]) == id)
        #expect(t.contents(of: t.node(id)!) == "unix!/tmp/ns/ramfs\n")
        #expect(t.entries.map(\.address) == ["unix!/tmp/ns/ramfs"])
        try t.remove(id, now: 3)
        #expect(t.resolve(["ramfs"]) == nil)
        #expect(t.entries.isEmpty)
    }

    @Test func duplicateNamesAndSecondWritesAreErrors() throws {
        var t = RegistryTree(owner: "glenda")
        let id = try t.create(in: RegistryTree.root, name: "a", owner: "glenda", now: 0)
        #expect(throws: NinePError("service a already posted")) {
            try t.create(in: RegistryTree.root, name: "a", owner: "glenda", now: 0)
        }
        try t.post(id, address: "tcp!h!1", now: 0)
        #expect(throws: NinePError("service a is already posted: an entry is written once")) {
            try t.post(id, address: "tcp!h!2", now: 0)
        }
        #expect(t.node(id)?.address == "tcp!h!1")
    }

    @Test func refusesReservedNamesAndBadAddresses() throws {
        var t = RegistryTree(owner: "glenda")
        for name in ["clone", "ninep-srv", "ninep-srv.state", "a!b", "a b"] {
            #expect(throws: NinePError.self) { try t.create(in: RegistryTree.root, name: name, owner: "u", now: 0) }
        }
        let id = try t.create(in: RegistryTree.root, name: "x", owner: "u", now: 0)
        #expect { try t.post(id, address: "srv!y", now: 0) } throws: { "\($0)".contains("not another srv name") }
        #expect { try t.post(id, address: "foo!bar", now: 0) } throws: { "\($0)".contains("unknown network 'foo'") }
        #expect(t.node(id)?.address == nil)
    }

    @Test func cloneNestsWithFreshIDs() throws {
        var t = RegistryTree(owner: "glenda")
        let (one, oneName) = try t.clone(in: RegistryTree.root, owner: "u", now: 0)
        let (_, twoName) = try t.clone(in: RegistryTree.root, owner: "u", now: 0)
        let (inner, innerName) = try t.clone(in: one, owner: "u", now: 0)
        #expect([oneName, twoName, innerName] == ["1", "2", "1"])
        let e = try t.create(in: inner, name: "db", owner: "u", now: 0)
        try t.post(e, address: "tcp!db!5640", now: 0)
        #expect(t.resolve(["1", "1", "db"]) == e)
        #expect(t.path(of: e) == ["1", "1", "db"])
        #expect(t.child(of: inner, named: "clone") != nil)
        #expect { try t.remove(one, now: 0) } throws: { "\($0)" == "service directory 1 is not empty" }
        try t.remove(e, now: 0)
        try t.remove(inner, now: 0)
        try t.remove(one, now: 0)
        #expect(t.resolve(["1"]) == nil)
    }

    @Test func deadEntriesReadAsGoneWithModeZero() throws {
        var t = RegistryTree(owner: "glenda")
        let id = try t.create(in: RegistryTree.root, name: "old", owner: "u", now: 0)
        try t.post(id, address: "tcp!127.0.0.1!1", now: 0)
        #expect(t.stat(id)?.mode.permissions == 0o666)
        t.setAlive(id, false)
        #expect(t.contents(of: t.node(id)!) == "tcp!127.0.0.1!1 gone\n")
        #expect(t.stat(id)?.mode.permissions == 0)
    }

    @Test func stateFileRoundTrips() throws {
        var t = RegistryTree(owner: "glenda")
        let (dir, _) = try t.clone(in: RegistryTree.root, owner: "u", now: 0)
        let e = try t.create(in: dir, name: "db", owner: "u", now: 0)
        try t.post(e, address: "tcp!db!5640", now: 0)
        let top = try t.create(in: RegistryTree.root, name: "top", owner: "u", now: 0)
        try t.post(top, address: "unix!/tmp/x", now: 0)
        t.setHeld(top)
        let ctl = try t.create(in: RegistryTree.root, name: "ctl", owner: "u", now: 0)
        try t.post(ctl, address: "unix!/tmp/c /dir/ctl\n", now: 0)
        let parsed = RegistryStateFile.parse(RegistryStateFile.serialize(t) + "garbage line\n")
        #expect(parsed.directories == [["1"]])
        #expect(parsed.entries == [
            .init(path: ["1", "db"], address: "tcp!db!5640"),
            .init(path: ["top"], address: "unix!/tmp/x", held: true),
            .init(path: ["ctl"], address: "unix!/tmp/c /dir/ctl"),
        ])
        #expect(parsed.complaints == ["line 6: cannot read 'garbage line'"])
    }

    @Test func aFileEntryIsAnAddressAndAnAbsolutePath() throws {
        var t = RegistryTree(owner: "glenda")
        let id = try t.create(in: RegistryTree.root, name: "ctl", owner: "u", now: 0)
        #expect(throws: NinePError("cannot post ctl: 'dir/ctl' is not the absolute path of a file")) {
            try t.post(id, address: "unix!/tmp/c dir/ctl", now: 0)
        }
        #expect(throws: NinePError("cannot post ctl: write a dial string, optionally followed by the path of one of its files (/ctl)")) {
            try t.post(id, address: "unix!/tmp/c /a /b", now: 0)
        }
        try t.post(id, address: "unix!/tmp/c /ctl\n", now: 0)
        #expect(t.node(id)?.file == "/ctl")
        #expect(t.stat(id)?.qid.type == .tmp && t.stat(id)?.mode == FileMode(permissions: 0o666, flags: .tmp))
        let exec = try t.create(in: RegistryTree.root, name: "sh", owner: "u", now: 0)
        try t.post(exec, address: "exec!ninep export /tmp", now: 0)
        #expect(t.node(exec)?.file == nil && t.node(exec)?.address == "exec!ninep export /tmp")
    }
}
