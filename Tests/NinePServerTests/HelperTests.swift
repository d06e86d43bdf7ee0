import NIOCore
import NinePServer
import NinePTesting
import NinePWire
import Testing

@Suite("readStr, readBuf, dirRead", .timeLimit(.minutes(5)))
struct HelperTests {
    private func read(offset: UInt64, count: UInt32, fid: ServerFid? = nil, _ body: (Request) -> Void) -> Message? {
        let box = ReplyBox()
        let f = fid ?? ServerFid(fid: Fid(1), uname: "glenda")
        let r = Request(tag: Tag(1), ifcall: .tread(Tread(fid: f.fid, offset: offset, count: count)), fid: f, responder: box.responder)
        body(r)
        return box.message
    }

    @Test(arguments: [
        (0, 5, "hello"), (7, 100, "world"), (12, 10, ""), (400, 10, ""), (3, 0, ""), (0, 100, "hello, world"),
    ] as [(UInt64, UInt32, String)])
    func readStrHonoursOffsetAndCount(offset: UInt64, count: UInt32, expected: String) {
        #expect(read(offset: offset, count: count) { readStr($0, "hello, world") }?.readData == Array(expected.utf8))
        #expect(read(offset: offset, count: count) { readBuf($0, Array("hello, world".utf8)) }?.readData == Array(expected.utf8))
        var buffer = ByteBuffer(string: "xxhello, world")
        buffer.moveReaderIndex(forwardBy: 2)
        #expect(read(offset: offset, count: count) { readBuf($0, buffer) }?.readData == Array(expected.utf8))
    }

    private func stat(_ i: Int) -> Stat {
        Stat(qid: Qid(path: UInt64(i)), mode: FileMode(permissions: 0o644), name: "file-\(i)", uid: "u", gid: "g", muid: "u")
    }

    @Test func dirReadOffsetsAndWholeEntries() throws {
        let fid = ServerFid(fid: Fid(1), uname: "glenda", qid: Qid(type: .dir, path: 0))
        let gen: (Int) -> Stat? = { i in i < 10 ? self.stat(i) : nil }
        let size = UInt32(stat(0).wireSize)
        // Two and a half entries fit: two are returned.
        let first = try #require(read(offset: 0, count: size * 5 / 2, fid: fid) { dirRead($0, gen) }?.readData)
        #expect(try entries(first).map(\.name) == ["file-0", "file-1"])
        #expect(read(offset: 5, count: 1000, fid: fid) { dirRead($0, gen) }?.ename == "bad offset")
        let second = try #require(read(offset: UInt64(first.count), count: 1000, fid: fid) { dirRead($0, gen) }?.readData)
        #expect(try entries(second).map(\.name) == (2..<10).map { "file-\($0)" })
        let end = read(offset: UInt64(first.count + second.count), count: 1000, fid: fid) { dirRead($0, gen) }
        #expect(end?.readData == [])
        // Offset 0 restarts.
        let again = try #require(read(offset: 0, count: size, fid: fid) { dirRead($0, gen) }?.readData)
        #expect(try entries(again).map(\.name) == ["file-0"])
        // read(5): a count too small for the next entry is an error, not an empty read (EOF).
        #expect(read(offset: UInt64(again.count), count: size - 1, fid: fid) { dirRead($0, gen) }?.ename == NinePError.directoryEntryTooLarge.ename)
    }

    @Test func dirReadGeneratorErrorsAreAnswered() {
        let fid = ServerFid(fid: Fid(1), uname: "glenda", qid: Qid(type: .dir, path: 0))
        let reply = read(offset: 0, count: 1000, fid: fid) { r in
            dirRead(r) { (i: Int) throws(NinePError) -> Stat? in
                if i == 1 { throw NinePError.permissionDenied }
                return self.stat(i)
            }
        }
        #expect(reply?.ename == "permission denied")
    }

    @Test func twoThousandEntriesWithSmallCountsEachExactlyOnce() throws {
        let fid = ServerFid(fid: Fid(1), uname: "glenda", qid: Qid(type: .dir, path: 0))
        let gen: (Int) -> Stat? = { i in i < 2_000 ? self.stat(i) : nil }
        var offset: UInt64 = 0
        var names: [String] = []
        while true {
            let data = try #require(read(offset: offset, count: 150, fid: fid) { dirRead($0, gen) }?.readData)
            if data.isEmpty { break }
            names += try entries(data).map(\.name)
            offset += UInt64(data.count)
        }
        #expect(names == (0..<2_000).map { "file-\($0)" })
    }

    @Test func twoThousandEntriesThroughTheLoop() async throws {
        let pair = try await session(TestFS())
        defer { Task { await pair.close() } }
        let c = pair.client
        #expect(try await c.walk(0, 1, "big").qids?.count == 1)
        #expect(try await c.open(1, .read).ename == nil)
        var offset: UInt64 = 0
        var names: [String] = []
        let counts: [UInt32] = [200, 333, 100, 4096]
        for i in 0..<5_000 {
            let count = counts[i % counts.count]
            let data = try #require(try await c.read(1, offset: offset, count: count).readData)
            if data.isEmpty { break }
            names += try entries(data).map(\.name)
            offset += UInt64(data.count)
        }
        #expect(names == (0..<TestFS.bigCount).map(TestFS.bigName))
    }
}
