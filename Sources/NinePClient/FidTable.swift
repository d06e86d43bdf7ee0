import NinePWire
import Synchronization

/// The fids this client has handed out, and what it knows of each.
///
/// Id lifetimes (STYLE rule 8): `allocate` reserves a number; it is reused
/// only after `release`, which the client calls when the server has let go
/// of the fid (Rclunk, any reply to Tremove, or a walk/attach that did not
/// create it). Thread safety: every method takes the mutex; callable anywhere.
final class FidTable: Sendable {
    /// What the client knows of a live fid.
    struct Info: Sendable {
        /// The path it was reached by, for error messages ("/a/b").
        var path: String
        var qid: Qid
        /// Ropen/Rcreate's iounit once open; nil while not open.
        var iounit: UInt32?
    }

    private struct State {
        var neverUsed: UInt32 = 0
        var free: [UInt32] = []
        var reserved: Set<UInt32> = []
        var info: [UInt32: Info] = [:]
    }

    private let state = Mutex(State())

    /// A fid number not in use on this connection.
    func allocate() throws(NinePClientError) -> Fid {
        try state.withLock { state throws(NinePClientError) in
            let raw: UInt32
            if let reused = state.free.popLast() {
                raw = reused
            } else {
                guard state.neverUsed < Fid.nofid.rawValue else {
                    throw NinePClientError(.protocolError("all 2^32-1 fids are in use"))
                }
                raw = state.neverUsed
                state.neverUsed += 1
            }
            state.reserved.insert(raw)
            return Fid(raw)
        }
    }

    /// The server no longer knows `fid`: its number may be handed out again.
    func release(_ fid: Fid) {
        state.withLock { state in
            guard state.reserved.remove(fid.rawValue) != nil else { return }
            state.info[fid.rawValue] = nil
            state.free.append(fid.rawValue)
        }
    }

    func set(_ fid: Fid, _ info: Info) {
        state.withLock { state in
            if state.reserved.contains(fid.rawValue) { state.info[fid.rawValue] = info }
        }
    }

    func update(_ fid: Fid, _ change: (inout Info) -> Void) {
        state.withLock { state in
            if var info = state.info[fid.rawValue] {
                change(&info)
                state.info[fid.rawValue] = info
            }
        }
    }

    func info(_ fid: Fid) -> Info? {
        state.withLock { $0.info[fid.rawValue] }
    }

    /// Fids handed out and not yet released.
    var count: Int { state.withLock { $0.reserved.count } }
}
