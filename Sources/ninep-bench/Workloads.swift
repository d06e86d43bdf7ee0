import NIOCore
import NinePClient
import NinePWire

/// The three measurements, each a `PipelinedRun` over fids set up with the
/// async API. They speak only 9P2000, so they measure any server.
enum Workloads {
    /// A reply of the wrong kind or size stops a run with this.
    struct Mismatch: Error, CustomStringConvertible {
        var description: String
    }

    /// Tstat of `fid`, `window` at a time, until `seconds` have passed.
    static func tstat(client: NinePClient, fid: Fid, window: Int, seconds: Double) async throws -> PipelinedRun.Outcome {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        let request = Message.tstat(Tstat(fid: fid))
        let workload = PipelinedRun.Workload(
            // Checking the clock costs tens of nanoseconds (vDSO): cheap next to a round trip.
            next: { _ in ContinuousClock.now < deadline ? request : nil },
            check: { _, reply in
                guard case .rstat = reply else { throw Mismatch(description: "Tstat answered by \(reply.type)") }
                return 0
            })
        return try await PipelinedRun(client: client, window: window, workload: workload).run()
    }

    /// Sequential Twrites of `chunk` bytes from offset 0 until `size` bytes
    /// are written, `window` at a time. The payload is one buffer that every
    /// Twrite shares (slices, no copies), filled with a pattern that is not
    /// all zeros so that nothing can shortcut it.
    static func write(
        client: NinePClient, fid: Fid, size: Int, chunk: Int, window: Int
    ) async throws -> PipelinedRun.Outcome {
        var pattern = ByteBufferAllocator().buffer(capacity: chunk)
        for i in 0..<chunk { pattern.writeInteger(UInt8(truncatingIfNeeded: i &* 31 &+ i >> 8)) }
        let payload = pattern
        let workload = PipelinedRun.Workload(
            next: { index in
                let offset = index * chunk
                guard offset < size else { return nil }
                let data = payload.getSlice(at: payload.readerIndex, length: min(chunk, size - offset))!
                return .twrite(Twrite(fid: fid, offset: UInt64(offset), data: data))
            },
            check: { index, reply in
                let expected = min(chunk, size - index * chunk)
                guard case .rwrite(let r) = reply, Int(r.count) == expected else {
                    throw Mismatch(description: "Twrite of \(expected) bytes at \(index * chunk) answered by \(reply)")
                }
                return expected
            })
        return try await PipelinedRun(client: client, window: window, workload: workload).run()
    }

    /// Sequential Treads of `chunk` bytes from offset 0 to `size` (the
    /// file's length), `window` at a time, like a readahead. Each reply must
    /// carry exactly the bytes left before `size`.
    static func read(
        client: NinePClient, fid: Fid, size: Int, chunk: Int, window: Int
    ) async throws -> PipelinedRun.Outcome {
        let workload = PipelinedRun.Workload(
            next: { index in
                let offset = index * chunk
                guard offset < size else { return nil }
                return .tread(Tread(fid: fid, offset: UInt64(offset), count: UInt32(chunk)))
            },
            check: { index, reply in
                let expected = min(chunk, size - index * chunk)
                guard case .rread(let r) = reply, r.data.readableBytes == expected else {
                    let got = if case .rread(let r) = reply { "\(r.data.readableBytes) bytes" } else { "\(reply.type)" }
                    throw Mismatch(description: "Tread of \(chunk) bytes at \(index * chunk) answered by \(got), expected \(expected)")
                }
                return expected
            })
        return try await PipelinedRun(client: client, window: window, workload: workload).run()
    }
}
