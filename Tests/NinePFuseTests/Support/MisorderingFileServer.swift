import NinePServer
import NinePWire
import Synchronization

/// A FileServer that answers its first Tcreate, or its first Tstat of a
/// file, as a server that ran a pipelined request before the one it
/// depends on would: the Tcreate with "unknown fid" (the clone was not
/// walked yet), the Tstat with the directory's stat (the fid was not yet
/// turned into the new file). Everything else goes to `inner`.
final class MisorderingFileServer: ForwardingFileServer, Sendable {
    enum Fault: Sendable {
        case createBeforeWalk
        case statBeforeCreate
    }

    let inner: any FileServer
    let fault: Fault
    private let pending = Atomic<Bool>(true)

    init(_ inner: any FileServer, _ fault: Fault) {
        self.inner = inner
        self.fault = fault
    }

    /// Whether the fault was injected.
    var injected: Bool { !pending.load(ordering: .relaxed) }

    private func inject(_ kind: Fault) -> Bool {
        fault == kind && pending.exchange(false, ordering: .relaxed)
    }

    func create(_ r: Request) {
        guard inject(.createBeforeWalk) else { return inner.create(r) }
        r.respond(error: .unknownFid)
    }

    func stat(_ r: Request) {
        guard r.fid?.qid.isDirectory == false, inject(.statBeforeCreate) else { return inner.stat(r) }
        let qid = Qid(type: .dir, path: UInt64.max - 1)
        r.respond(.rstat(Rstat(stat: Stat(qid: qid, mode: FileMode(permissions: 0o755, flags: .dir), name: "dir"))))
    }
}
