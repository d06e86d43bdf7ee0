import Foundation
import NinePServer
import NinePWire

/// A FileServer that passes every request to another and keeps count of
/// what the service loop holds: fids are added when a Tattach, Tauth or
/// Twalk names a new one and removed in `destroyFid`, which the loop calls
/// for every fid it let go (clunked, removed, or a failed walk's newfid).
/// So `liveFids` is exactly the number of fids the loop holds for clients.
///
/// Thread safety: the counts are `Watched`, so a test can also wait (with a
/// deadline) until they reach a value.
final class CountingFileServer: ForwardingFileServer, @unchecked Sendable {
    let inner: any FileServer
    private let live = Watched(Set<ObjectIdentifier>())
    private let flushCount = Watched(0)
    private let walked = Watched([String: Int]())

    init(_ inner: any FileServer) {
        self.inner = inner
    }

    var liveFids: Int { live.read(\.count) }
    var flushes: Int { flushCount.read { $0 } }

    /// Waits until `liveFids == count`, at most `seconds`; returns whether it happened.
    func waitForLiveFids(_ count: Int, seconds: Double = 10) -> Bool {
        live.wait(seconds: seconds) { $0.count == count }
    }

    /// Waits until `liveFids <= count`, at most `seconds`; returns whether it happened.
    func waitForLiveFids(atMost count: Int, seconds: Double = 10) -> Bool {
        live.wait(seconds: seconds) { $0.count <= count }
    }

    private func note(_ fid: ServerFid?) {
        guard let fid else { return }
        live.update { _ = $0.insert(ObjectIdentifier(fid)) }
    }

    func attach(_ r: Request) {
        note(r.fid)
        inner.attach(r)
    }

    func auth(_ r: Request) {
        note(r.fid)
        inner.auth(r)
    }

    func walk(_ r: Request) {
        if let newfid = r.newfid, newfid !== r.fid { note(newfid) }
        if case .twalk(let t) = r.ifcall, let last = t.wname.last { walked.update { $0[last, default: 0] += 1 } }
        inner.walk(r)
    }

    /// How many Twalks had `name` as their last element.
    func walks(to name: String) -> Int { walked.read { $0[name] ?? 0 } }

    func flush(_ r: Request) {
        flushCount.update { $0 += 1 }
        inner.flush(r)
    }

    func destroyFid(_ fid: ServerFid) {
        live.update { _ = $0.remove(ObjectIdentifier(fid)) }
        inner.destroyFid(fid)
    }
}
