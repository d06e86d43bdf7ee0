import Glibc
import NinePWire
import Synchronization

/// What an open fid holds: its descriptor and, for a directory, its reader.
/// Closing happens when it is dropped, which `ExportFid.release` does on a
/// worker thread.
///
/// Unchecked Sendable: it is created on a worker and from then on reached
/// only inside its `ExportFid`'s lock.
final class OpenFile: @unchecked Sendable {
    /// The descriptor opened for I/O; −1 for a symbolic link, which is read
    /// through its node with readlinkat(2).
    let fd: Int32
    let mode: OpenMode
    let directory: DirectoryReader?

    init(fd: Int32, mode: OpenMode, directory: DirectoryReader?) {
        self.fd = fd
        self.mode = mode
        self.directory = directory
    }

    deinit { if fd >= 0 { close(fd) } }
}

/// The export's state for one fid (its `ServerFid.aux`): the node it names
/// and, once opened, the open file.
///
/// Who touches it: created and used on worker threads; the event loop only
/// moves it from `ServerFid.aux` into the release queue in `destroyFid`.
/// The lock serialises the requests of one fid (a directory read continues
/// where the previous one ended) and is held across their system calls; it
/// is never taken on the event loop.
final class ExportFid: Sendable {
    let node: HostNode

    private struct State {
        var open: OpenFile?
        /// ORCLOSE: remove the file when the fid is released.
        var removeOnClose = false
        /// Tremove succeeded, so there is nothing left to remove.
        var removed = false
    }
    private let state: Mutex<State>

    init(node: HostNode) {
        self.node = node
        self.state = Mutex(State())
    }

    /// A fid created by Tcreate: already open.
    init(node: HostNode, open: OpenFile, removeOnClose: Bool) {
        self.node = node
        self.state = Mutex(State(open: open, removeOnClose: removeOnClose))
    }

    /// Records a successful open.
    func opened(_ file: OpenFile, removeOnClose: Bool) {
        state.withLock { s in
            s.open = file
            s.removeOnClose = removeOnClose
        }
    }

    /// Runs `body` with the open file, under the fid's lock.
    func withOpenFile<R: Sendable>(
        _ body: (OpenFile) throws(NinePError) -> R
    ) throws(NinePError) -> R {
        try state.withLock { s throws(NinePError) -> R in
            guard let file = s.open else { throw .fidNotOpen }
            return try body(file)
        }
    }

    /// The open descriptor, if any, under the lock, for `body`.
    func withOpenDescriptor<R: Sendable>(_ body: (Int32?) throws(NinePError) -> R) throws(NinePError) -> R {
        try state.withLock { s throws(NinePError) -> R in
            try body(s.open.map { $0.fd }.flatMap { $0 >= 0 ? $0 : nil })
        }
    }

    /// Tremove: unlink the file now.
    func remove() throws(NinePError) {
        try node.removeFromParent()
        state.withLock { $0.removed = true }
    }

    /// The fid is gone: close what it holds and carry out ORCLOSE. Runs on a
    /// worker thread. Returns the error of an ORCLOSE removal, which has no
    /// one to answer to but the log.
    func release() -> NinePError? {
        let remove = state.withLock { s -> Bool in
            s.open = nil
            return s.removeOnClose && !s.removed
        }
        guard remove else { return nil }
        do throws(NinePError) {
            try node.removeFromParent()
            return nil
        } catch {
            return error
        }
    }
}
