import NIOCore
public import NinePWire

/// The completion of a low-level request: the reply message, or an error —
/// `NinePError` for an Rerror (verbatim), `NinePClientError` for a lost
/// connection or a protocol violation, `CancellationError` for a request
/// cancelled before the server answered it. Runs on the connection's event loop.
public typealias NinePReplyHandler = @Sendable (Result<Message, any Error>) -> Void

/// Names one request on the low-level path, to cancel it.
public struct RequestHandle: Hashable, Sendable {
    let id: UInt64
}

/// The seam between the client and whatever carries its requests: today one
/// channel (`ChannelFcallTransport`); later a reconnecting transport that
/// keeps the same contract across connections.
///
/// Contract: `start` and `cancel` may be called from any thread; requests
/// reach the wire in the order their `start` calls were made from one thread,
/// and a `cancel` is processed after the `start` that preceded it. Every
/// completion is called exactly once, on `eventLoop`.
protocol FcallTransport: Sendable {
    /// The loop on which completions run.
    var eventLoop: any EventLoop { get }
    /// Sends `message` with a tag of the transport's choosing (waiting for a
    /// free one if needed); `lazily`: it may wait a moment to leave with
    /// other messages (`FcallChannelHandler.FlushLazily`).
    func start(_ message: Message, id: UInt64, lazily: Bool, completion: @escaping NinePReplyHandler)
    /// Cancels request `id` (Tflush if it is in flight). See `NinePClient.cancel(_:)`.
    func cancel(id: UInt64)
    /// Sets the negotiated msize: the framing limit and the size check on requests.
    func setMessageSize(_ msize: UInt32) -> EventLoopFuture<Void>
    /// Closes the connection; pending requests fail with `.connectionLost`.
    func close() -> EventLoopFuture<Void>
    /// The msize in force now, if it can fall below the negotiated one (a
    /// reconnected server may grant less); nil: the negotiated msize holds.
    var messageSizeInForce: UInt32? { get }
}

extension FcallTransport {
    var messageSizeInForce: UInt32? { nil }
}
