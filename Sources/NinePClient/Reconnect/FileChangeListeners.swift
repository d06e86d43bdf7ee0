import NinePWire
import Synchronization

/// Who wants to hear of files that changed while a reconnecting client was
/// away (qid.vers differs after the reconnect): `Configuration.onInvalidate`
/// and whoever called `NinePClient.onFileChanged(_:)` (a mount, to drop
/// the kernel's cached pages and attributes); and of the connection being
/// lost (`NinePClient.onConnectionLost(_:)`: a mount drops what it knows
/// of directories' names).
///
/// Who calls: the executor, on the client's event loop, once per changed
/// fid; `add` from any thread. The mutex is held only to copy the list, so
/// a listener may do anything but block the loop.
final class FileChangeListeners: Sendable {
    private let listeners = Mutex<[@Sendable (Fid, Qid) -> Void]>([])
    private let lossListeners = Mutex<[@Sendable () -> Void]>([])

    init(_ onInvalidate: (@Sendable (Fid) -> Void)?) {
        if let onInvalidate { add { fid, _ in onInvalidate(fid) } }
    }

    func add(_ listener: @escaping @Sendable (Fid, Qid) -> Void) {
        listeners.withLock { $0.append(listener) }
    }

    /// `fid`'s file changed; `qid` is its qid now.
    func changed(_ fid: Fid, _ qid: Qid) {
        for listener in listeners.withLock({ $0 }) { listener(fid, qid) }
    }

    func addConnectionLost(_ listener: @escaping @Sendable () -> Void) {
        lossListeners.withLock { $0.append(listener) }
    }

    /// The connection dropped; requests are held until the server is back.
    func connectionLost() {
        for listener in lossListeners.withLock({ $0 }) { listener() }
    }
}
