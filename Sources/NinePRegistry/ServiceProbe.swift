public import NIOCore
import NIOPosix
import NinePTransport

/// Asks whether anything still answers at a posted address, by connecting
/// to it and hanging up (no 9P is spoken, so any server is only disturbed
/// by an accept and an EOF).
///
/// `exec!` addresses are started anew by each dial, so they count as alive.
/// Who calls: any task; the connect runs on `group`.
public enum ServiceProbe {
    /// How long a TCP connect may take before the service counts as gone.
    public static let timeout: TimeAmount = .seconds(1)

    /// Whether a connection to `address` succeeds within `timeout`.
    public static func isAlive(_ text: String, group: any EventLoopGroup) async -> Bool {
        guard let address = try? NinePAddress(dialString: text) else { return false }
        let bootstrap = ClientBootstrap(group: group).connectTimeout(timeout)
        do {
            let channel: any Channel
            switch address {
            case .tcp(let host, let port), .tls(let host, let port):
                channel = try await bootstrap.connect(host: host, port: port).get()
            case .unix(let path): channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            case .exec: return true
            case .srv: return false
            }
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }
}
