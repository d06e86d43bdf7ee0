public import FuseLowLevel
public import Logging
import NinePClient
public import NinePFuse
public import NinePServer
public import NinePTransport
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where a running `serveMount` can be reached, reported once everything
/// asked for is in place.
public struct ServeMountReady: Sendable {
    /// The bound listening address (with the real port for port 0), if listening.
    public var listening: NinePAddress?
    /// The name the service is posted under, if posted.
    public var posted: String?
    /// The mountpoint, if mounted.
    public var mountpoint: String?
}

/// The knobs of `serveMount` beyond what it serves where.
public struct ServeMountOptions: Sendable {
    /// The service loop's limits, trace and logger.
    public var server = ServerOptions()
    /// FUSE mount options (`MountOptions(parsing:)`), e.g. direct_io.
    public var mount = MountOptions()
    /// The user the mount attaches as.
    public var uname: String
    /// The tree the mount attaches to.
    public var aname = ""
    /// How a name is posted; see `ServicePoster`. Default: in the srv
    /// registry (`RegistryPoster`), as `ninep … --post` does.
    public var poster: any ServicePoster
    /// Called once, when the service is listening, posted and mounted as asked.
    public var ready: @Sendable (ServeMountReady) -> Void = { _ in }
    public var logger = Logger(label: "ninep.servemount")

    public init(uname: String) {
        self.uname = uname
        self.poster = RegistryPoster(uname: uname)
    }
}

/// Serves `fs` and, in the same process, optionally listens on `listen`,
/// posts it under `name` and mounts it on `mountpoint` through FUSE: the
/// Swift counterpart of lib9p's postmountsrv and listensrv (9p(3)).
///
/// The mount is served over an in-process socket pair (postmountsrv's
/// pipe); the posted service and the listener accept other clients.
///
/// Returns when the mount is unmounted from outside (`fusermount3 -u`,
/// `ninep unmount`), or, without a mountpoint, when the task is cancelled;
/// cancelling the task with a mount unmounts it. Either way everything is
/// torn down before it returns: the mount, the in-process connection, the
/// posted name and the listener, in that order.
///
/// Deadlocks: this process serves the mount, so it must never itself read,
/// write or map files of the mount (the FUSE worker would wait for an
/// answer only it can give): run such work in child processes.
public func serveMount(
    _ fs: any FileServer, post name: String? = nil, mountpoint: String? = nil, listen: NinePAddress? = nil,
    options: ServeMountOptions
) async throws {
    var ready = ServeMountReady()
    var listener: ServerListener?
    var posted: (any PostedService)?
    func teardown() async {
        await posted?.withdraw()
        await listener?.close()
    }
    do {
        if let listen {
            let l = try await NinePServer.listen(fs, on: listen, options: options.server)
            listener = l
            ready.listening = l.address
        }
        if let name {
            posted = try await options.poster.post(name: name, fileServer: fs, options: options.server)
            ready.posted = name
        }
        if let mountpoint {
            ready.mountpoint = mountpoint
            let report = ready
            try await serveMounted(fs, at: mountpoint, options: options) { options.ready(report) }
        } else {
            options.ready(ready)
            await waitForCancellation()
        }
    } catch {
        await teardown()
        throw error
    }
    await teardown()
}

/// Serves `fs` on an in-process pair, mounts the client end and runs the
/// FUSE session on a thread of its own until it ends.
private func serveMounted(
    _ fs: any FileServer, at mountpoint: String, options: ServeMountOptions, ready: @Sendable () -> Void
) async throws {
    let (channel, connection) = try await NinePServer.serveInProcess(fs, options: options.server)
    var configuration = NinePClient.Configuration(messageSize: options.server.maxMessageSize)
    configuration.serverName = "in-process server"
    let client: NinePClient
    do {
        client = try await NinePClient.connect(channel: channel, configuration: configuration)
    } catch {
        await connection.close()
        throw error
    }
    let session: FuseSession
    do {
        let root = try await client.attach(uname: options.uname, aname: options.aname)
        let mount = NinePMount(client: client, root: root, options: options.mount, logger: options.logger)
        do {
            session = try mount.mount(at: mountpoint)
        } catch {
            mount.release()
            throw error
        }
    } catch {
        await client.close()
        await connection.close()
        throw error
    }
    ready()
    var failure: (any Error)?
    do {
        try await runSession(session)
    } catch {
        failure = error
    }
    await client.close()
    await connection.close()
    if let failure { throw failure }
}

/// Runs a mounted FUSE session on a thread of its own until it is
/// unmounted from outside or `stop()`ped; cancelling the task stops it.
/// The mount is gone when this returns.
public func runSession(_ session: FuseSession) async throws {
    let result: Result<Void, FuseError> = await withTaskCancellationHandler {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                do throws(FuseError) {
                    try session.run()
                    continuation.resume(returning: .success(()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.name = "ninep-fuse"
            thread.start()
        }
    } onCancel: {
        session.stop()
    }
    try result.get()
}

/// Suspends until the task is cancelled.
func waitForCancellation() async {
    let waiter = Mutex<(resumed: Bool, continuation: CheckedContinuation<Void, Never>?)>((false, nil))
    await withTaskCancellationHandler {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = waiter.withLock { w -> Bool in
                if w.resumed { return true }
                w.continuation = continuation
                return false
            }
            if now { continuation.resume() }
        }
    } onCancel: {
        let continuation = waiter.withLock { w -> CheckedContinuation<Void, Never>? in
            w.resumed = true
            defer { w.continuation = nil }
            return w.continuation
        }
        continuation?.resume()
    }
}
