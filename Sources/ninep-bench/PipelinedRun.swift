import Glibc
import NIOCore
import NinePClient
import NinePWire

/// Keeps up to `window` requests in flight on a client's low-level path
/// (`NinePClient.send(_:completion:)`), issuing the next one from each
/// completion, until the workload has nothing more to send and every reply
/// is in.
///
/// Who calls: `run()` from any task; everything else (issuing, counting,
/// checking replies) happens on the client's event loop, where the
/// completions run. That is why the mutable state needs no lock.
final class PipelinedRun: @unchecked Sendable {
    /// What to send and how to judge the replies. Called on the event loop only.
    struct Workload {
        /// The `index`-th request, or nil when there is nothing more to send.
        var next: (_ index: Int) -> Message?
        /// Checks the reply to request `index` and returns the payload bytes
        /// it carried (0 for metadata). Throws to stop the run.
        var check: (_ index: Int, _ reply: Message) throws -> Int
    }

    /// How a run went.
    struct Outcome {
        var operations: Int
        var bytes: Int
        var seconds: Double
        /// User plus system CPU time of this whole process (every thread)
        /// during the run.
        var cpuSeconds: Double
    }

    private let client: NinePClient
    private let window: Int
    private let workload: Workload
    private let promise: EventLoopPromise<Outcome>
    private var issued = 0
    private var completed = 0
    private var inFlight = 0
    private var bytes = 0
    private var exhausted = false
    private var failure: (any Error)?
    private var filling = false
    private var started = ContinuousClock.now
    private var startedCPU = 0.0

    init(client: NinePClient, window: Int, workload: Workload) {
        self.client = client
        self.window = max(1, window)
        self.workload = workload
        self.promise = client.eventLoop.makePromise(of: Outcome.self)
    }

    /// Runs the workload to its end; throws the first failed reply.
    func run() async throws -> Outcome {
        client.eventLoop.execute { [self] in
            startedCPU = Self.processCPUSeconds()
            started = .now
            fill()
        }
        return try await promise.futureResult.get()
    }

    /// Tops the window up. A completion that runs synchronously inside
    /// `send` (a local failure) re-enters here; `filling` keeps that flat.
    private func fill() {
        guard !filling else { return }
        filling = true
        defer { filling = false }
        while inFlight < window, failure == nil, !exhausted {
            guard let message = workload.next(issued) else {
                exhausted = true
                break
            }
            let index = issued
            issued += 1
            inFlight += 1
            client.send(message) { [self] result in complete(index, result) }
        }
        if inFlight == 0 { finish() }
    }

    private func complete(_ index: Int, _ result: Result<Message, any Error>) {
        inFlight -= 1
        completed += 1
        do {
            bytes += try workload.check(index, try result.get())
        } catch {
            failure = failure ?? error
        }
        if !filling { fill() }
    }

    private func finish() {
        if let failure { return promise.fail(failure) }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let cpu = Self.processCPUSeconds() - startedCPU
        promise.succeed(Outcome(operations: completed, bytes: bytes, seconds: seconds, cpuSeconds: cpu))
    }

    /// getrusage(RUSAGE_SELF): user + system time of every thread so far.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
