import Dispatch
public import FuseLowLevel
public import Logging
public import NinePClient
public import NinePWire
import Synchronization

/// A 9P tree mounted through FUSE: the bridge between a `NinePClient`
/// attached to a server and a `FuseSession`.
///
/// ```swift
/// let client = try await NinePClient.connect(to: "unix!/tmp/9p.sock", group: group)
/// let root = try await client.attach(uname: "glenda")
/// let mount = NinePMount(client: client, root: root, options: try MountOptions(parsing: ["ro"]))
/// let running = try mount.start(at: "/mnt/9")  // mounted, served on a thread of its own
/// running.wait()                              // until unmounted (fusermount3 -u, or running.unmount())
/// ```
///
/// `mount(at:)` gives the bare `FuseSession` instead, to `run()` where you like.
///
/// The mount owns `root` from `init` on: every fid it uses is walked from
/// it, and when the session ends (`FuseOperations.destroy`, after `run()`
/// returns) it clunks every fid it holds, the root's included, so that the
/// server is left with none of this mount's fids. If the session never
/// runs, call `release()` instead.
///
/// Node ids and open handles are kept with what is needed to walk to them
/// again (each node's parent and name, each handle's node and mode), so a
/// reconnecting transport can restore them on a new connection.
///
/// Thread safety: every method may be called from any thread, except
/// `release` on the client's event loop.
public final class NinePMount: Sendable {
    public let client: NinePClient
    public let options: MountOptions
    let bridge: Bridge

    /// - Parameters:
    ///   - client: a connected client; its completions drive the bridge.
    ///   - root: a fid from `client.attach`, now owned by the mount.
    ///   - options: caching and permission options (`MountOptions(parsing:)`).
    ///   - logger: at debug level, every failed request with the server's
    ///     original error text and the errno it became (the CLI's `-D`).
    ///   - identityResolver: maps the user and group names of stats to
    ///     local ids; called off the event loop (see `IdentityMap`).
    public init(
        client: NinePClient, root: Fid, options: MountOptions = MountOptions(),
        logger: Logger = Logger(label: "ninep.mount"),
        identityResolver: any IdentityResolver = SystemIdentityResolver()
    ) {
        self.client = client
        self.options = options
        let bridge = Bridge(
            client: client, rootFid: root, rootQid: client.qid(of: root), options: options, logger: logger,
            identityResolver: identityResolver)
        self.bridge = bridge
        client.onFileChanged { [weak bridge] _, qid in bridge?.fileChanged(qid) }
        client.onConnectionLost { [weak bridge] in bridge?.connectionLost() }
    }

    /// Mounts the tree on `mountpoint` and returns the session, mounted but
    /// not yet serving: call `run()` on it from a thread of its own.
    /// Throws `FuseError` for a missing /dev/fuse or fusermount3, a missing
    /// or busy mountpoint, or options libfuse refuses.
    public func mount(at mountpoint: String) throws(FuseError) -> FuseSession {
        let session = try FuseSession(
            mountpoint: mountpoint,
            options: options.sessionOptions(defaultFsName: "9p:" + client.server, eventLoop: client.eventLoop),
            operations: bridge, logger: bridge.logger)
        bridge.attach(session)
        return session
    }

    /// Clunks every fid the mount holds and waits up to `timeout` seconds
    /// for the server's answers. Done by the session when it ends; idempotent.
    public func release(timeout: Double = 10) {
        bridge.release(timeout: timeout)
    }

    /// Fids of this mount the server holds or is being asked about: the
    /// root, directories' fids, open files and directories, and fids of
    /// transactions in flight. 0 once released and answered.
    public var liveFidCount: Int { bridge.liveFids.load(ordering: .relaxed) }

    /// Nodes the kernel knows (the root included).
    public var nodeCount: Int { bridge.state.withLock { $0.table.nodes.count } }

    /// Files and directories open through the mount.
    public var openHandleCount: Int { bridge.state.withLock { $0.table.handles.count } }
}

extension NinePMount {
    /// Mounts the tree on `mountpoint` and serves it on a thread of its own
    /// (the background mode of `ninep mount`). The mount is ready when this
    /// returns; see `RunningMount` to wait for its end or to unmount.
    public func start(at mountpoint: String) throws(FuseError) -> RunningMount {
        RunningMount(session: try mount(at: mountpoint))
    }
}

/// A mounted session served on a thread of its own: `FuseSession.run()` runs
/// on a dedicated dispatch queue (an overcommitting thread, not a Swift
/// concurrency task) until the tree is unmounted, from outside or by `unmount()`.
///
/// Thread safety: any thread.
public final class RunningMount: Sendable {
    public let session: FuseSession
    private let ended = DispatchSemaphore(value: 0)
    private let outcome = Mutex<Result<Void, FuseError>?>(nil)

    init(session: FuseSession) {
        self.session = session
        DispatchQueue(label: "ninep.mount " + session.mountpoint).async { [self] in
            let result: Result<Void, FuseError>
            do throws(FuseError) {
                try session.run()
                result = .success(())
            } catch {
                result = .failure(error)
            }
            outcome.withLock { $0 = result }
            ended.signal()
        }
    }

    /// The mountpoint as mounted.
    public var mountpoint: String { session.mountpoint }

    /// Waits until serving ended (the mount is gone and every fid was
    /// released), at most `seconds` (nil: for ever). Returns how `run()`
    /// ended, or nil if it is still serving.
    public func wait(seconds: Double? = nil) -> Result<Void, FuseError>? {
        let done = seconds.map { ended.wait(timeout: .now() + $0) == .success } ?? {
            ended.wait()
            return true
        }()
        guard done else { return nil }
        ended.signal()  // later waits return at once
        return outcome.withLock { $0 }
    }

    /// Stops serving, unmounts and waits (at most `seconds`) for the end;
    /// the result as `wait`.
    @discardableResult
    public func unmount(seconds: Double = 30) -> Result<Void, FuseError>? {
        session.stop()
        return wait(seconds: seconds)
    }
}
