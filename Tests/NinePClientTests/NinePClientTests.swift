import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
@testable import NinePClient
import NinePTransport
import NinePWire
import Testing

@Suite(.timeLimit(.minutes(5)))
struct NinePClientTests {
    // MARK: Version

    @Test func negotiatesASmallerMsizeAndSplitsReadsByIt() async throws {
        let content = ByteBuffer(bytes: (0..<2000).map { UInt8($0 % 251) })
        var server = try await FakeServer.start(grant: 512, script: basicScript { request in
            guard case .tread(let t) = request.message else { return nil }
            let start = min(Int(t.offset), content.readableBytes)
            let count = min(Int(t.count), content.readableBytes - start)
            return .rread(Rread(data: content.getSlice(at: start, length: count)!))
        })
        let client = server.client
        #expect(client.msize == 512)
        #expect(client.version == "9P2000")
        let root = try await client.attach(uname: "glenda")
        _ = await server.next()
        let fid = try await client.open(path: "file", mode: .read)
        _ = await server.next()
        _ = await server.next()
        let data = try await client.read(fid, offset: 0, count: 5000)
        #expect(data == content)
        var reads: [Tread] = []
        for _ in 0..<5 {
            if case .tread(let t)? = await server.next()?.message { reads.append(t) }
        }
        #expect(reads.map(\.count) == [488, 488, 488, 488, 488])
        #expect(reads.map(\.offset) == [0, 488, 976, 1464, 1952])
        // A request that cannot fit the granted msize fails before it is sent.
        await #expect {
            try await client.call(.tread(Tread(fid: root, offset: 0, count: 489)))
        } throws: { error in
            guard let error = error as? NinePClientError, case .messageTooLarge(513, 512) = error.kind else { return false }
            return true
        }
        await server.close()
    }

    @Test func failsClearlyWhenTheServerAnswersUnknown() async throws {
        await #expect {
            try await FakeServer.start(versionString: "unknown")
        } throws: { error in
            guard let error = error as? NinePClientError, case .versionRefused("9P2000", _) = error.kind else { return false }
            return "\(error)" == "fake: refused version 9P2000: it answered \"unknown\""
        }
        await #expect {
            try await FakeServer.start(versionString: "9P2000.u")
        } throws: { error in
            "\(error)".contains("server answered version '9P2000.u' to '9P2000'")
        }
        await #expect {
            try await FakeServer.start(grant: 100)
        } throws: { error in
            "\(error)".contains("msize 100 is below 256")
        }
    }

    // MARK: Tags

    @Test func waitsForAFreeTagWhenAllAreInUse() async throws {
        var server = try await FakeServer.start(configuration: .init(maxOutstandingRequests: 3, serverName: "fake"))
        let client = server.client
        let results = NIOLockedValueBox<[UInt32]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for fid in 0..<5 {
                group.addTask {
                    let reply = try await client.call(.tclunk(Tclunk(fid: Fid(UInt32(fid)))))
                    guard case .rclunk = reply else { throw NinePClientError(.protocolError("not Rclunk")) }
                    results.withLockedValue { $0.append(UInt32(fid)) }
                }
            }
            var held: [Fcall] = []
            for _ in 0..<3 { held.append(try #require(await server.next())) }
            #expect(Set(held.map(\.tag)) == [NinePWire.Tag(0), NinePWire.Tag(1), NinePWire.Tag(2)])
            // Two callers wait; none failed.
            while try await client.requestCounts() != (3, 2) { await Task.yield() }
            try await server.reply(held[1].tag, .rclunk(Rclunk()))
            let fourth = try #require(await server.next())
            #expect(fourth.tag == held[1].tag, "the freed tag goes to the first waiter")
            try await server.reply(held[0].tag, .rclunk(Rclunk()))
            let fifth = try #require(await server.next())
            #expect(fifth.tag == held[0].tag)
            for fcall in [held[2], fourth, fifth] { try await server.reply(fcall.tag, .rclunk(Rclunk())) }
            try await group.waitForAll()
        }
        #expect(results.withLockedValue { $0.sorted() } == [0, 1, 2, 3, 4])
        await server.close()
    }

    @Test func usesTheWholeTagSpaceOnTheCallbackPath() async throws {
        var server = try await FakeServer.start()
        let client = server.client
        let total = 0xFFFF + 1
        let (done, doneContinuation) = AsyncStream.makeStream(of: Result<Message, any Error>.self)
        for fid in 0..<total {
            client.send(.tclunk(Tclunk(fid: Fid(UInt32(fid))))) { doneContinuation.yield($0) }
        }
        var tags = Set<NinePWire.Tag>()
        for _ in 0..<0xFFFF { tags.insert(try #require(await server.next()).tag) }
        #expect(tags.count == 0xFFFF && !tags.contains(NinePWire.Tag.notag))
        #expect(try await client.requestCounts() == (0xFFFF, 1))
        try await server.reply(NinePWire.Tag(4242), .rclunk(Rclunk()))
        #expect(try #require(await server.next()).tag == NinePWire.Tag(4242))
        // Answer everything; every completion sees Rclunk.
        try await server.replyAll(tags.map { Fcall(tag: $0, .rclunk(Rclunk())) })
        var completed = 0
        for await result in done {
            guard case .success(.rclunk) = result else { Issue.record("unexpected \(result)"); break }
            completed += 1
            if completed == total { break }
        }
        #expect(completed == total)
        await server.close()
    }

    /// A fake server that answers every Tstat "no stat here".
    static func serverRefusingStat() async throws -> FakeServer {
        try await FakeServer.start(script: { request in
            if case .tstat = request.message { return .rerror(Rerror(ename: "no stat here")) }
            return nil
        })
    }

    @Test func callbackCompletionsRunOnTheEventLoop() async throws {
        let server = try await Self.serverRefusingStat()
        let client = server.client
        let result: Result<Message, any Error> = await withCheckedContinuation { continuation in
            client.send(.tstat(Tstat(fid: Fid(9)))) { result in
                #expect(client.eventLoop.inEventLoop)
                continuation.resume(returning: result)
            }
        }
        guard case .failure(let error) = result else { Issue.record("expected Rerror"); return }
        #expect(error as? NinePError == NinePError("no stat here"))
        // Tflush and Tversion belong to the client: refused, on the event loop too.
        for message in [Message.tflush(Tflush(oldtag: NinePWire.Tag(0))), .tversion(Tversion(msize: 8192, version: "9P2000"))] {
            let refused: Result<Message, any Error> = await withCheckedContinuation { continuation in
                client.send(message) { result in
                    #expect(client.eventLoop.inEventLoop)
                    continuation.resume(returning: result)
                }
            }
            guard case .failure(let error as NinePClientError) = refused, case .protocolError = error.kind else {
                Issue.record("\(message) was not refused"); continue
            }
        }
        await server.close()
    }

    /// A request sent lazily, with nothing after it, still goes out (after
    /// `FlushLazily.delay`) and is answered; one with company goes with it.
    @Test func aLazilySentRequestGoesOutAloneOrWithTheNext() async throws {
        let server = try await Self.serverRefusingStat()
        let client = server.client
        let alone: Result<Message, any Error> = await withCheckedContinuation { continuation in
            client.send(.tstat(Tstat(fid: Fid(9))), lazily: true) { continuation.resume(returning: $0) }
        }
        #expect((try? alone.get()) == nil)
        let both = await withTaskGroup(of: Bool.self) { group in
            for lazily in [true, false] {
                group.addTask {
                    let result: Result<Message, any Error> = await withCheckedContinuation { continuation in
                        client.send(.tstat(Tstat(fid: Fid(lazily ? 1 : 2))), lazily: lazily) { continuation.resume(returning: $0) }
                    }
                    guard case .failure(let error) = result else { return false }
                    return error as? NinePError == NinePError("no stat here")
                }
            }
            return await group.reduce(true) { $0 && $1 }
        }
        #expect(both)
        await server.close()
    }

    /// Requests sent from completions go out at the end of the read that
    /// delivered them, and requests from other threads behind a queued
    /// flush: a lost flush would leave a chain waiting forever.
    @Test func requestsSentFromCompletionsAndOtherThreadsAllGoOut() async throws {
        let server = try await FakeServer.start(script: basicScript())
        let client = server.client
        let chains = 8
        let steps = 500
        let finished: AsyncStream<Int> = AsyncStream { continuation in
            /// Each chain sends its next Tclunk from the previous one's completion.
            final class Chain: @unchecked Sendable {
                let client: NinePClient
                let done: (Int) -> Void
                var remaining: Int
                init(client: NinePClient, steps: Int, done: @escaping (Int) -> Void) {
                    self.client = client
                    self.remaining = steps
                    self.done = done
                }
                func step(_ index: Int) {
                    client.send(.tclunk(Tclunk(fid: Fid(UInt32(index))))) { [self] result in
                        guard case .success(.rclunk) = result else { return done(-1) }
                        remaining -= 1
                        if remaining == 0 { done(index) } else { step(index) }
                    }
                }
            }
            for i in 0..<chains {
                // Started from this (non-loop) thread; continued on the loop.
                Chain(client: client, steps: steps) { continuation.yield($0) }.step(i)
            }
        }
        var done = Set<Int>()
        for await index in finished {
            #expect(index >= 0, "a Tclunk failed")
            done.insert(index)
            if done.count == chains { break }
        }
        #expect(done == Set(0..<chains))
        // A burst of calls from many tasks at once.
        try await withThrowingTaskGroup(of: Message.self) { group in
            for i in 0..<1000 { group.addTask { try await client.call(.tclunk(Tclunk(fid: Fid(UInt32(i))))) } }
            for try await reply in group { #expect(reply == .rclunk(Rclunk())) }
        }
        await server.close()
    }

    // MARK: Flush

    @Test func cancelledCallWhoseReplyBeatsTheRflushReturnsTheReply() async throws {
        var server = try await FakeServer.start()
        let client = server.client
        let read = Task { try await client.read(Fid(5), offset: 0, count: 10) }
        let tread = try #require(await server.next())
        read.cancel()
        let tflush = try #require(await server.next())
        #expect(tflush.message == .tflush(Tflush(oldtag: tread.tag)))
        #expect(tflush.tag != tread.tag)

        // Until the Rflush, the old tag stays taken.
        let stat = Task { try await client.call(.tstat(Tstat(fid: Fid(6)))) }
        let tstat = try #require(await server.next())
        #expect(tstat.tag != tread.tag && tstat.tag != tflush.tag)

        try await server.reply(tstat.tag, .rerror(Rerror(ename: "later")))
        _ = await stat.result
        try await server.reply(tread.tag, .rread(Rread(data: bytes("happened"))))
        #expect(try await read.value == bytes("happened"), "the operation happened: its reply is delivered")
        #expect(try await client.requestCounts() == (2, 0), "the old tag is held until the Rflush")
        try await server.reply(tflush.tag, .rflush(Rflush()))
        while try await client.requestCounts() != (0, 0) { await Task.yield() }

        // After the Rflush the old tag is free again (free tags are reused last-in, first-out).
        let after = Task { try await client.call(.tclunk(Tclunk(fid: Fid(5)))) }
        let tclunk = try #require(await server.next())
        #expect(tclunk.tag == tread.tag)
        try await server.reply(tclunk.tag, .rclunk(Rclunk()))
        _ = try await after.value
        #expect(try await client.requestCounts() == (0, 0))
        await server.close()
    }

    @Test func cancelledCallWhoseRflushComesFirstThrowsCancellation() async throws {
        var server = try await FakeServer.start()
        let client = server.client
        let walk = Task { try await client.walk(from: Fid(0), names: ["a"]) }
        let twalk = try #require(await server.next())
        walk.cancel()
        let tflush = try #require(await server.next())
        #expect(tflush.message == .tflush(Tflush(oldtag: twalk.tag)))
        try await server.reply(tflush.tag, .rflush(Rflush()))
        await #expect(throws: CancellationError.self) { try await walk.value }
        #expect(try await client.requestCounts() == (0, 0))
        // The walk never happened: its newfid is free for the next walk.
        guard case .twalk(let first) = twalk.message else { Issue.record("not a walk"); return }
        let again = Task { try await client.walk(from: Fid(0), names: ["b"]) }
        let second = try #require(await server.next())
        guard case .twalk(let retry) = second.message else { Issue.record("not a walk"); return }
        #expect(retry.newfid == first.newfid)
        #expect([twalk.tag, tflush.tag].contains(second.tag))
        try await server.reply(second.tag, .rwalk(Rwalk(wqid: [qid(2)])))
        #expect(try await again.value == first.newfid)

        // The callback path: an explicit cancel handle.
        let (results, continuation) = AsyncStream.makeStream(of: Result<Message, any Error>.self)
        let handle = client.send(.tstat(Tstat(fid: Fid(0)))) { continuation.yield($0) }
        let tstat = try #require(await server.next())
        client.cancel(handle)
        client.cancel(handle)  // a second cancel sends nothing more
        let flush2 = try #require(await server.next())
        #expect(flush2.message == .tflush(Tflush(oldtag: tstat.tag)))
        try await server.reply(flush2.tag, .rflush(Rflush()))
        var iterator = results.makeAsyncIterator()
        guard case .failure(let error)? = await iterator.next() else { Issue.record("expected cancellation"); return }
        #expect(error is CancellationError)
        await server.close()
    }

    @Test func cancellingARequestThatWaitsForATagSendsNothing() async throws {
        var server = try await FakeServer.start(configuration: .init(maxOutstandingRequests: 1, serverName: "fake"))
        let client = server.client
        let first = Task { try await client.call(.tstat(Tstat(fid: Fid(1)))) }
        let tstat = try #require(await server.next())
        let second = Task { try await client.call(.tstat(Tstat(fid: Fid(2)))) }
        while try await client.requestCounts() != (1, 1) { await Task.yield() }
        second.cancel()
        await #expect(throws: CancellationError.self) { try await second.value }
        try await server.reply(tstat.tag, .rerror(Rerror(ename: "x")))
        _ = await first.result
        #expect(try await client.requestCounts() == (0, 0))
        await server.close()
    }

    // MARK: Fids

    @Test func fidsAreReusedOnlyAfterRclunk() async throws {
        var server = try await FakeServer.start(script: { request in
            switch request.message {
            case .tattach: .rattach(Rattach(qid: qid(0, dir: true)))
            case .twalk(let t): .rwalk(Rwalk(wqid: t.wname.map { _ in qid(1) }))
            default: nil  // Tclunk is held
            }
        })
        let client = server.client
        let root = try await client.attach(uname: "glenda", aname: "main")
        #expect(client.root == root)
        _ = await server.next()
        let a = try await client.walk(path: "a")
        _ = await server.next()
        #expect(client.path(of: a) == "/a")
        let clunk = Task { try await client.clunk(a) }
        let tclunk = try #require(await server.next())
        #expect(tclunk.message == .tclunk(Tclunk(fid: a)))
        let b = try await client.walk(path: "b")
        _ = await server.next()
        #expect(b != a, "fid \(a) reused before its Rclunk")
        try await server.reply(tclunk.tag, .rclunk(Rclunk()))
        try await clunk.value
        let c = try await client.walk(path: "c")
        #expect(c == a, "fid \(a) is free again after Rclunk")
        await server.close()
    }

    @Test func walksOfMoreThanSixteenNamesAreSplit() async throws {
        let names = (1...20).map { "d\($0)" }
        var server = try await FakeServer.start(script: basicScript { request in
            if case .tremove = request.message { return .rremove(Rremove()) }
            return nil
        })
        let client = server.client
        let root = try await client.attach(uname: "glenda")
        _ = await server.next()
        let fid = try await client.walk(from: root, names: names)
        let first = try #require(await server.next())
        let second = try #require(await server.next())
        #expect(first.message == .twalk(Twalk(fid: root, newfid: fid, wname: Array(names[0..<16]))))
        #expect(second.message == .twalk(Twalk(fid: fid, newfid: fid, wname: Array(names[16...]))))
        #expect(client.path(of: fid) == "/" + names.joined(separator: "/"))
        #expect(client.qid(of: fid) == qid(4))
        try await client.remove(fid)
        _ = await server.next()
        #expect(client.path(of: fid) == nil)
        await server.close()
    }

    @Test func aWalkThatStopsShortLeavesNoFidBehind() async throws {
        let names = (1...18).map { "d\($0)" }
        var server = try await FakeServer.start(script: { request in
            switch request.message {
            case .tattach: .rattach(Rattach(qid: qid(0, dir: true)))
            case .twalk(let t) where t.wname.count == 16: .rwalk(Rwalk(wqid: t.wname.map { _ in qid(1) }))
            case .twalk: .rwalk(Rwalk(wqid: [qid(2)]))
            case .tclunk: .rclunk(Rclunk())
            default: nil
            }
        })
        let root = try await server.client.attach(uname: "glenda")
        _ = await server.next()
        await #expect {
            try await server.client.walk(from: root, names: names)
        } throws: { error in
            guard let error = error as? NinePClientError, case .walkIncomplete("d18") = error.kind else { return false }
            return error.path == "/" + names.joined(separator: "/") && "\(error)".hasSuffix(": 'd18' does not exist")
        }
        let first = try #require(await server.next())
        let second = try #require(await server.next())
        let clunk = try #require(await server.next())
        guard case .twalk(let w) = first.message else { Issue.record("not a walk"); return }
        #expect(second.message == .twalk(Twalk(fid: w.newfid, newfid: w.newfid, wname: ["d17", "d18"])))
        #expect(clunk.message == .tclunk(Tclunk(fid: w.newfid)), "the half-walked fid is clunked")
        #expect(server.client.fids.count == 1)
        await server.close()
    }

    // MARK: I/O

    @Test func largeWritesAreSplitByIounitAndShortWritesReported() async throws {
        let short = NIOLockedValueBox(false)
        var server = try await FakeServer.start(script: basicScript(iounit: 10) { request in
            guard case .twrite(let t) = request.message else { return nil }
            let accepted = short.withLockedValue { $0 } && t.offset == 10 ? 4 : t.data.readableBytes
            return .rwrite(Rwrite(count: UInt32(accepted)))
        })
        let client = server.client
        _ = try await client.attach(uname: "glenda")
        _ = await server.next()
        let fid = try await client.open(path: "f", mode: .write)
        _ = await server.next()
        _ = await server.next()
        #expect(client.iounit(of: fid) == 10)
        let payload = bytes("abcdefghijklmnopqrstuvwxy")
        #expect(try await client.write(fid, offset: 100, data: payload) == 25)
        var writes: [Twrite] = []
        for _ in 0..<3 {
            if case .twrite(let t)? = await server.next()?.message { writes.append(t) }
        }
        #expect(writes.map(\.offset) == [100, 110, 120])
        #expect(writes.map(\.data) == [bytes("abcdefghij"), bytes("klmnopqrst"), bytes("uvwxy")])

        short.withLockedValue { $0 = true }
        #expect(try await client.write(fid, offset: 0, data: payload) == 14, "a short write is reported")
        var count = 0
        for _ in 0..<2 {
            if case .twrite? = await server.next()?.message { count += 1 }
        }
        #expect(count == 2)
        #expect(try await client.requestCounts() == (0, 0), "no Twrite after the short one")
        await server.close()
    }

    @Test func readsStopAtAShortReadAndReadAllAtAnEmptyOne() async throws {
        let content = bytes("twenty bytes of text")
        var server = try await FakeServer.start(script: basicScript(iounit: 8) { request in
            guard case .tread(let t) = request.message else { return nil }
            let start = min(Int(t.offset), content.readableBytes)
            return .rread(Rread(data: content.getSlice(at: start, length: min(Int(t.count), content.readableBytes - start))!))
        })
        let client = server.client
        _ = try await client.attach(uname: "glenda")
        let fid = try await client.open(path: "f", mode: .read)
        for _ in 0..<3 { _ = await server.next() }
        #expect(try await client.read(fid, offset: 0, count: 100) == content)
        var counts: [UInt32] = []
        for _ in 0..<3 {
            if case .tread(let t)? = await server.next()?.message { counts.append(t.count) }
        }
        #expect(counts == [8, 8, 8])
        #expect(try await client.read(fid, offset: 18, count: 100) == bytes("xt"))
        _ = await server.next()
        #expect(try await client.readAll(fid) == content)
        var offsets: [UInt64] = []
        for _ in 0..<4 {
            if case .tread(let t)? = await server.next()?.message { offsets.append(t.offset) }
        }
        #expect(offsets == [0, 8, 16, 20])
        await server.close()
    }

    @Test func readdirDecodesEntriesAcrossSeveralRreads() async throws {
        var entries: [Stat] = []
        for i in 0..<5 {
            let isDirectory = i == 0
            let mode = FileMode(permissions: 0o644, flags: isDirectory ? .dir : [])
            entries.append(Stat(qid: qid(UInt64(10 + i), dir: isDirectory), mode: mode, mtime: 1_700_000_000,
                                length: UInt64(i * 100), name: "entry\(i)", uid: "glenda", gid: "sys", muid: "glenda"))
        }
        let packed: [ByteBuffer] = [entries[0..<2], entries[2..<4], entries[4..<5]].map { group in
            var buffer = ByteBuffer()
            for entry in group { buffer.writeStat(entry) }
            return buffer
        }
        let sizes = packed.map(\.readableBytes)
        let offsets = [0, sizes[0], sizes[0] + sizes[1], sizes[0] + sizes[1] + sizes[2]]
        var server = try await FakeServer.start(script: basicScript { request in
            guard case .tread(let t) = request.message, let index = offsets.firstIndex(of: Int(t.offset)) else {
                return .rerror(Rerror(ename: "bad offset"))
            }
            return .rread(Rread(data: index < packed.count ? packed[index] : ByteBuffer()))
        })
        let client = server.client
        _ = try await client.attach(uname: "glenda")
        #expect(try await client.readdir(path: "/") == entries)
        var seen: [UInt64] = []
        while let request = await server.next() {
            if case .tread(let t) = request.message { seen.append(t.offset) }
            if case .tclunk = request.message { break }
        }
        #expect(seen == offsets.map(UInt64.init))
        await server.close()
    }

    @Test func aMalformedDirectoryEntryIsAProtocolError() async throws {
        let server = try await FakeServer.start(script: basicScript { request in
            guard case .tread = request.message else { return nil }
            var junk = ByteBuffer()
            junk.writeInteger(UInt16(40), endianness: .little)
            junk.writeString("not a stat")
            return .rread(Rread(data: junk))
        })
        _ = try await server.client.attach(uname: "glenda")
        await #expect {
            try await server.client.readdir(path: "dir")
        } throws: { error in
            guard let error = error as? NinePClientError, case .protocolError = error.kind else { return false }
            return "\(error)".hasPrefix("readdir /dir on fake: protocol error: bad directory entry")
        }
        await server.close()
    }

    // MARK: Errors

    @Test func serverErrorStringsAreKeptVerbatim() async throws {
        let ename = "‘glenda’ may not walk to ü/ñ: permission denied (really)"
        var server = try await FakeServer.start(script: { request in
            switch request.message {
            case .tattach: .rattach(Rattach(qid: qid(0, dir: true)))
            case .twalk, .tstat: .rerror(Rerror(ename: ename))
            default: nil
            }
        })
        let client = server.client
        _ = try await client.attach(uname: "glenda")
        _ = await server.next()
        await #expect {
            try await client.walk(path: "usr/glenda")
        } throws: { error in
            guard let error = error as? NinePClientError else { return false }
            return error.ninePError == NinePError(ename) && error.operation == "walk" && error.path == "/usr/glenda"
                && "\(error)" == "walk /usr/glenda on fake: \(ename)"
        }
        guard case .twalk(let failed)? = await server.next()?.message else { Issue.record("no walk"); return }
        // The failed walk's newfid was released: the next one reuses it.
        let reused = try client.allocateFid()
        #expect(reused == failed.newfid)
        client.releaseFid(reused)
        await #expect {
            try await client.stat(client.root!)
        } throws: { error in
            "\(error)" == "stat / on fake: \(ename)"
        }
        await server.close()
    }

    @Test func losingTheConnectionFailsPendingAndLaterCalls() async throws {
        var server = try await FakeServer.start()
        let client = server.client
        let calls = (0..<3).map { i in Task { try await client.call(.tstat(Tstat(fid: Fid(UInt32(i))))) } }
        for _ in 0..<3 { _ = await server.next() }
        try await server.pair.server.close()
        for call in calls {
            await #expect {
                try await call.value
            } throws: { error in
                guard let error = error as? NinePClientError, case .connectionLost = error.kind else { return false }
                return "\(error)" == "fake: connection lost: the server closed the connection"
            }
        }
        await #expect {
            try await client.stat(Fid(1))
        } throws: { error in
            "\(error)" == "stat fid 1 on fake: connection lost: the server closed the connection"
        }
        await server.close()
    }

    @Test func traceLogsEveryMessage() async throws {
        let lines = LogLines()
        var logger = Logger(label: "ninep.trace") { _ in lines }
        logger.logLevel = .debug
        let server = try await FakeServer.start(configuration: .init(trace: logger, serverName: "fake"), script: basicScript())
        _ = try await server.client.attach(uname: "glenda")
        #expect(server.client.msize == 1 << 20 + 24, "1 MiB plus IOHDRSZ is offered and granted")
        #expect(lines.all == [
            "→ Tversion tag NOTAG msize 1048600 version '9P2000'",
            "← Rversion tag NOTAG msize 1048600 version '9P2000'",
            "→ Tattach tag 0 fid 0 afid NOFID uname glenda aname ",
            "← Rattach tag 0 qid (0 0 'd')",
        ])
        await server.close()
    }
}

/// A LogHandler that keeps the messages.
final class LogLines: LogHandler, @unchecked Sendable {
    private let lock = NIOLock()
    private var lines: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    var all: [String] { lock.withLock { lines } }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lock.withLock { lines.append(event.message.description) }
    }
}
