#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import NIOCore
import NIOPosix
public import NinePWire

/// Serving 9P on this process's standard input and output, as a program
/// started by a client's `exec!` (or by inetd, or by a Plan 9 `srv`) does.
public enum NinePStandardIO {
    /// Wraps fds 0 and 1 into a channel of `Fcall`s (framing direction
    /// `.requests`), then runs `configure` on its event loop.
    ///
    /// The 9P stream moves to private duplicates of fds 0 and 1; fd 0 is then
    /// pointed at /dev/null and fd 1 at fd 2, so that a stray `print` goes to
    /// stderr instead of corrupting the protocol, and so that the peer sees
    /// end-of-file as soon as the channel closes. Call it once per process.
    ///
    /// - Throws: `NinePTransportError` if the descriptors cannot be taken
    ///   (NIO refuses regular files: stdin must be a pipe, socket or tty).
    public static func channel(
        group: any EventLoopGroup,
        direction: MessageDirection = .requests,
        maxMessageSize: UInt32 = NineP.defaultMessageSize,
        configure: NinePChannelInitializer? = nil
    ) async throws -> any Channel {
        let fail = { (reason: String) in NinePTransportError(.listen, address: "stdin/stdout", reason: reason) }
        let input = fcntl(0, F_DUPFD_CLOEXEC, 3)
        guard input >= 0 else { throw fail("stdin: \(errnoText(errno))") }
        let output = fcntl(1, F_DUPFD_CLOEXEC, 3)
        guard output >= 0 else {
            let code = errno
            close(input)
            throw fail("stdout: \(errnoText(code))")
        }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        if null >= 0 {
            dup2(null, 0)
            close(null)
        }
        dup2(2, 1)
        do {
            return try await pipeChannel(
                input: input, output: output, group: group, direction: direction,
                maxMessageSize: maxMessageSize, configure: configure)
        } catch {
            close(input)
            close(output)
            throw fail(osReason(error))
        }
    }

    /// Wraps a pair of descriptors into a channel of `Fcall`s. On success the
    /// channel owns them (and closes them when it closes); on failure the
    /// caller still does.
    public static func pipeChannel(
        input: Int32,
        output: Int32,
        group: any EventLoopGroup,
        direction: MessageDirection,
        maxMessageSize: UInt32 = NineP.defaultMessageSize,
        configure: NinePChannelInitializer? = nil
    ) async throws -> any Channel {
        try await NIOPipeBootstrap(group: group)
            .channelInitializer(framingInitializer(direction: direction, maxMessageSize: maxMessageSize, then: configure))
            .takingOwnershipOfDescriptors(input: input, output: output).get()
    }
}
