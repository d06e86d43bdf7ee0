import NinePWire

// version(5), attach(5), walk(5), clunk(5), flush(5): the checks about fids,
// tags and sessions rather than file contents.
extension FileServerConformance {
    func versionNegotiatesMsize(_ c: CheckContext) async throws {
        let s = c.s
        for (offer, version) in [(UInt32(8192 + 24), "9P2000"), (UInt32.max, "9P2000"), (UInt32(65_560), "9P2000.conformance")] {
            let client = try await connect()
            let reply: Fcall
            do {
                try await client.send(Fcall(tag: .notag, .tversion(Tversion(msize: offer, version: version))))
                reply = try await client.reply(tag: .notag)
            } catch {
                await client.close()
                throw s.failure("Tversion msize \(offer) '\(version)': no Rversion with NOTAG (\(error))")
            }
            await client.close()
            guard case .rversion(let v) = reply.message else {
                throw s.failure("Tversion msize \(offer) '\(version)' answered \(reply.message)")
            }
            // version(5): "The server responds with its own maximum, msize,
            // which must be less than or equal to the client's value"; a
            // suffix after a period may be stripped.
            try s.expect(v.msize <= offer, "Tversion msize \(offer) answered a larger msize \(v.msize)")
            try s.expect(v.msize >= 256, "Tversion msize \(offer) answered msize \(v.msize): too small to serve anything")
            try s.expect(v.version == NineP.version2000, "Tversion '\(version)' answered version '\(v.version)', expected 9P2000")
        }
        try s.expect(s.msize <= msize, "the session's msize \(s.msize) exceeds the \(msize) offered")
    }

    func versionUnknownAnswersUnknown(_ c: CheckContext) async throws {
        let s = c.s
        let client = try await connect()
        do {
            let reply = try await client.call(.tversion(Tversion(msize: msize, version: "XYZ2000")), tag: .notag)
            guard case .rversion(let v) = reply else { throw s.failure("Tversion 'XYZ2000' answered \(reply), expected Rversion") }
            try s.expect(v.version == ProtocolVersion.unknown, "Tversion 'XYZ2000' answered version '\(v.version)', expected 'unknown'")
            // No version was agreed, so no session exists yet.
            let attach = try await client.call(.tattach(Tattach(fid: Fid(1), uname: c.capabilities.uname, aname: "")))
            guard case .rerror = attach else { throw s.failure("Tattach after an unknown version answered \(attach), expected Rerror") }
            let good = try await client.version(msize: msize)
            try s.expect(good.version == NineP.version2000, "Tversion 9P2000 after 'unknown' answered '\(good.version)'")
            let again = try await client.call(.tattach(Tattach(fid: Fid(1), uname: c.capabilities.uname, aname: "")))
            guard case .rattach = again else { throw s.failure("Tattach after a good Tversion answered \(again)") }
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    }

    func versionResetsSession(_ c: CheckContext) async throws {
        let s = c.s
        let clone = try await s.clone(c.work)
        let v = try await s.client.version(msize: msize)
        try s.expect(v.version == NineP.version2000, "second Tversion answered '\(v.version)'")
        // version(5): "all outstanding I/O on the connection is aborted; all
        // active fids are freed ('clunked') automatically".
        try await s.expectUnused(s.root, "after a second Tversion")
        try await s.expectUnused(clone, "after a second Tversion")
        try await s.expectUnused(c.work, "after a second Tversion")
        let reply = try await s.call(.tattach(Tattach(fid: s.root, uname: c.capabilities.uname, aname: "")))
        guard case .rattach(let a) = reply else { throw s.failure("Tattach of fid 0 after a second Tversion answered \(reply)") }
        try s.expect(a.qid.same(s.rootQid), "the root qid changed across Tversion: \(s.rootQid) then \(a.qid)")
    }

    func attachGivesRoot(_ c: CheckContext) async throws {
        let s = c.s
        try s.expect(s.rootQid.isDirectory, "Rattach qid \(s.rootQid) is not a directory")
        let st = try await s.stat(s.root)
        try s.expect(st.qid.same(s.rootQid), "stat of the root has qid \(st.qid), Rattach said \(s.rootQid)")
        try s.expect(st.mode.isDirectory, "stat of the root has mode \(st.mode) without DMDIR")
        try s.expect(st.name == "/", "the root is named '\(st.name)', expected '/'")

        let second = s.newFid()
        let reply = try await s.call(.tattach(Tattach(fid: second, uname: c.capabilities.uname, aname: "")))
        guard case .rattach(let a) = reply else { throw s.failure("a second Tattach answered \(reply)") }
        try s.expect(a.qid.same(s.rootQid), "a second attach gave qid \(a.qid), the first \(s.rootQid)")
        try await s.clunk(second)

        try await s.refusal(.tattach(Tattach(fid: c.work, uname: c.capabilities.uname, aname: "")), "Tattach to a fid in use")
        try await s.refusal(
            .tattach(Tattach(fid: s.newFid(), afid: Fid(0xDEAD), uname: c.capabilities.uname, aname: "")),
            "Tattach with an afid that was never authenticated")
        let afid = s.newFid()
        try await s.refusal(.tauth(Tauth(afid: afid, uname: c.capabilities.uname, aname: "")), "Tauth (no authentication required)")
        try await s.expectUnused(afid, "after a refused Tauth")
    }

    func walkZeroNamesClones(_ c: CheckContext) async throws {
        let s = c.s
        let (clone, qids) = try await s.walk(s.root, [])
        try s.expect(qids.isEmpty, "a walk of no names answered \(qids.count) qids")
        try s.expect(try await s.stat(clone).qid.same(s.rootQid), "the clone of the root is not the root")
        let (same, none) = try await s.walk(clone, [], into: clone)
        try s.expect(same == clone && none.isEmpty, "a walk of no names with fid == newfid answered \(none.count) qids")
        try s.expect(try await s.stat(clone).qid.same(s.rootQid), "a walk of no names onto itself moved the fid")
        let workClone = try await s.clone(c.work)
        try s.expect(try await s.stat(workClone).qid.same(c.workQid), "the clone of a directory has another qid")
        // The clone is independent of its original.
        try await s.clunk(clone)
        try s.expect(try await s.stat(s.root).qid.same(s.rootQid), "clunking a clone disturbed the original")
        // walk(5): "newfid must not be in use unless it is the same as fid".
        try await s.refusal(.twalk(Twalk(fid: s.root, newfid: workClone, wname: [])), "a walk into a newfid already in use")
        try s.expect(try await s.stat(workClone).qid.same(c.workQid), "a refused walk changed the fid already in use")
    }

    func walkMultipleNames(_ c: CheckContext) async throws {
        let s = c.s
        let a = try await s.makeDirectory(c.work, "a")
        let b = try await s.makeDirectory(a, "b")
        let fileQid = try await s.makeFile(b, "c", .utf8("c"))
        let aQid = try await s.stat(a).qid
        let bQid = try await s.stat(b).qid
        let (fid, qids) = try await s.walk(c.work, ["a", "b", "c"])
        try s.expect(qids.same([aQid, bQid, fileQid]), "walk a/b/c answered \(qids), expected \([aQid, bQid, fileQid])")
        try s.expect(qids.count == 3 && qids[0].isDirectory && qids[1].isDirectory && !qids[2].isDirectory, "walk a/b/c answered qid types \(qids.map(\.type))")
        let st = try await s.stat(fid)
        try s.expect(st.name == "c" && st.qid.path == fileQid.path, "the fid walked to a/b/c has stat \(st)")
        // walk(5): at most sixteen names in one message.
        let sixteen = Array(repeating: ["a", ".."], count: 8).flatMap { $0 }
        let (_, many) = try await s.walk(c.work, sixteen)
        try s.expect(many.count == 16, "a walk of 16 names answered \(many.count) qids")
        try s.expect(many.last?.same(c.workQid) == true, "walking (a ..) eight times ended at \(String(describing: many.last)), not the start")
    }

    func walkShortLeavesNewfidUnused(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeDirectory(c.work, "a")
        let target = s.newFid()
        let m = Message.twalk(Twalk(fid: c.work, newfid: target, wname: ["a", "missing", "x"]))
        let reply = try await s.call(m)
        // walk(5): "If the first element cannot be walked for any reason,
        // Rerror is returned. Otherwise, the walk will return an Rwalk
        // message containing nwqid qids ... newfid ... is unaffected."
        guard case .rwalk(let w) = reply else { throw s.failure("\(m) answered \(reply), expected a short Rwalk") }
        try s.expect(w.wqid.count == 1, "\(m) answered \(w.wqid.count) qids, expected 1")
        try await s.expectUnused(target, "after a short walk")
        _ = try await s.walk(c.work, ["a"], into: target)
        // With newfid == fid, a short walk leaves the fid where it was.
        let same = try await s.clone(c.work)
        let (_, qids) = try await s.walk(same, ["a", "missing"], into: same)
        try s.expect(qids.count == 1, "a short walk with fid == newfid answered \(qids.count) qids")
        try s.expect(try await s.stat(same).qid.same(c.workQid), "a short walk with fid == newfid moved the fid")
    }

    func walkFirstElementFails(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeDirectory(c.work, "a")
        let target = s.newFid()
        try await s.refusal(.twalk(Twalk(fid: c.work, newfid: target, wname: ["missing"])), "walk of a missing name")
        try await s.expectUnused(target, "after a failed walk")
        try await s.refusal(.twalk(Twalk(fid: c.work, newfid: target, wname: ["missing", "a"])), "walk whose first name is missing")
        try await s.expectUnused(target, "after a failed walk")
        let same = try await s.clone(c.work)
        try await s.refusal(.twalk(Twalk(fid: same, newfid: same, wname: ["missing"])), "walk of a missing name onto itself")
        try s.expect(try await s.stat(same).qid.same(c.workQid), "a failed walk with fid == newfid moved the fid")
        _ = try await s.walk(c.work, [], into: target)
    }

    func walkDotDot(_ c: CheckContext) async throws {
        let s = c.s
        let (_, up) = try await s.walk(s.root, [".."])
        try s.expect(up.same([s.rootQid]), "'..' at the root answered \(up), expected the root \(s.rootQid)")
        let (top, upup) = try await s.walk(s.root, ["..", ".."])
        try s.expect(upup.same([s.rootQid, s.rootQid]), "'.. ..' at the root answered \(upup)")
        try s.expect(try await s.stat(top).name == "/", "'..' at the root led to a file not named '/'")
        let a = try await s.makeDirectory(c.work, "a")
        let aQid = try await s.stat(a).qid
        let (_, down) = try await s.walk(c.work, ["a", ".."])
        try s.expect(down.same([aQid, c.workQid]), "walk a .. answered \(down), expected \([aQid, c.workQid])")
        let (parent, toRoot) = try await s.walk(c.work, [".."])
        try s.expect(toRoot.same([s.rootQid]), "'..' from a directory in the root answered \(toRoot)")
        try s.expect(try await s.stat(parent).qid.same(s.rootQid), "the fid walked to '..' is not the root")
    }

    func walkOpenFidRefused(_ c: CheckContext) async throws {
        let s = c.s
        let dir = try await s.clone(c.work)
        try await s.open(dir, .read)
        // walk(5): "The fid must be valid ... and must not have been opened for I/O".
        for names in [["x"], []] {
            let target = s.newFid()
            try await s.refusal(.twalk(Twalk(fid: dir, newfid: target, wname: names)), "walk of \(names) from an open directory fid")
            try await s.expectUnused(target, "after a refused walk")
        }
        _ = try await s.makeFile(c.work, "f", .utf8("f"))
        let file = try await s.walkAll(c.work, ["f"])
        try await s.open(file, .read)
        try await s.refusal(.twalk(Twalk(fid: file, newfid: s.newFid(), wname: [])), "clone of an open file fid")
    }

    func walkFromFileRefused(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "f", .utf8("f"))
        let file = try await s.walkAll(c.work, ["f"])
        for names in [["x"], [".."]] {
            let target = s.newFid()
            try await s.refusal(.twalk(Twalk(fid: file, newfid: target, wname: names)), "walk of \(names) from a file")
            try await s.expectUnused(target, "after a walk from a file")
        }
        // walk(5): every name but the last must be a directory, ".." included.
        for names in [["f", ".."], ["f", "x"], ["f", "..", "f"]] {
            let (target, short) = try await s.walk(c.work, names)
            try s.expect(short.count == 1, "walk \(names) from the directory answered \(short.count) qids, expected 1 (the file)")
            try await s.expectUnused(target, "after the short walk \(names)")
        }
        let (clone, qids) = try await s.walk(file, [])
        try s.expect(qids.isEmpty, "a clone of a file answered \(qids.count) qids")
        try s.expect(try await s.stat(clone).name == "f", "the clone of a file is not the file")
    }

    func clunkFreesFid(_ c: CheckContext) async throws {
        let s = c.s
        let fid = try await s.clone(c.work)
        try await s.clunk(fid)
        try await s.expectUnused(fid, "after Tclunk")
        try await s.refusal(.tclunk(Tclunk(fid: fid)), "Tclunk of a clunked fid")
        _ = try await s.walk(c.work, [], into: fid)
        try await s.open(fid, .read)
        try await s.clunk(fid)
        // The number is free again, now for a file.
        _ = try await s.makeFile(c.work, "f")
        _ = try await s.walk(c.work, ["f"], into: fid)
        try s.expect(try await s.stat(fid).name == "f", "a reused fid does not name the file walked to")
    }

    func flushUnknownTagAnswersRflush(_ c: CheckContext) async throws {
        let s = c.s
        // flush(5): the server answers Rflush; with nothing to flush, at once.
        for old in [Tag(4321), Tag(0), Tag(0xFFFE)] {
            let reply = try await s.call(.tflush(Tflush(oldtag: old)))
            guard case .rflush = reply else { throw s.failure("Tflush of unused tag \(old) answered \(reply), expected Rflush") }
        }
        try s.expect(try await s.stat(c.work).qid.same(c.workQid), "the connection did not serve a Tstat after Tflush")
    }

    func confinementDotDot(_ c: CheckContext) async throws {
        let s = c.s
        let a = try await s.makeDirectory(c.work, "a")
        let b = try await s.makeDirectory(a, "b")
        let cc = try await s.makeDirectory(b, "c")
        let chain = [cc, b, a, c.work]
        var qids: [Qid] = []
        for fid in chain { qids.append(try await s.stat(fid).qid) }
        let ups = Array(repeating: "..", count: 16)
        for (depth, start) in ([s.root] + chain.reversed()).enumerated() {
            // From depth d below the root, d walks of ".." climb to the root,
            // and every further ".." stays there.
            // The directories above `start`, nearest first, then the root forever.
            let above = Array(([s.rootQid] + qids.reversed()).prefix(depth).reversed())
            let expectedSteps = above + Array(repeating: s.rootQid, count: 16)
            let (top, walked) = try await s.walk(start, ups)
            try s.expect(
                walked.same(Array(expectedSteps.prefix(16))),
                "16 × '..' from depth \(depth) answered \(walked.map(\.description)), expected \(expectedSteps.prefix(16).map(\.description))")
            try s.expect(try await s.stat(top).qid.same(s.rootQid), "16 × '..' from depth \(depth) did not end at the root")
            try await s.clunk(top)
        }
        // Climbing above the root and coming back down lands inside the tree.
        let names = [c.workName, "a", "b", "..", "..", "..", "..", "..", "..", c.workName, "a"]
        let (back, path) = try await s.walk(s.root, names)
        try s.expect(path.count == names.count && path.last?.same(qids[2]) == true, "walk \(names) answered \(path.map(\.description))")
        try s.expect(try await s.stat(back).qid.same(qids[2]), "walk \(names) did not end at \(c.workName)/a")
        // The root reached by ".." lists the tree's own entries.
        let (root, _) = try await s.walk(s.root, ["..", ".."])
        let listed = try await s.list(root)
        try s.expect(listed.contains { $0.name == c.workName }, "the directory reached by '..' from the root does not hold \(c.workName)")
    }
}
