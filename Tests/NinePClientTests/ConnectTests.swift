import NIOCore
import NIOPosix
@testable import NinePClient
import NinePTransport
import NinePWire
import Testing

/// The client over real sockets, dialled by address.
@Suite(.timeLimit(.minutes(5)))
struct ConnectTests {
    @Test func connectsByDialStringAndNamesTheServerInErrors() async throws {
        let (requests, continuation) = AsyncStream.makeStream(of: Fcall.self)
        let script = basicScript { request in
            if case .tstat = request.message { return .rerror(Rerror(ename: "stat prohibited")) }
            return nil
        }
        let listener = try await NinePListener.listen("tcp!127.0.0.1!0", group: MultiThreadedEventLoopGroup.singleton) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ScriptedHandler(
                    version: { Rversion(msize: min($0.msize, 4096), version: $0.version) },
                    script: script, requests: continuation))
            }
        }
        let address = listener.address.description
        let client = try await NinePClient.connect(to: address, group: MultiThreadedEventLoopGroup.singleton)
        #expect(client.msize == 4096)
        #expect(client.server == address)
        _ = try await client.attach(uname: "glenda")
        let fid = try await client.open(path: "a/b", mode: .read)
        await #expect {
            try await client.stat(fid)
        } throws: { error in
            "\(error)" == "stat /a/b on \(address): stat prohibited"
        }
        var iterator = requests.makeAsyncIterator()
        #expect(await iterator.next()?.message.type == .tattach)
        await client.close()
        await #expect {
            try await client.stat(fid)
        } throws: { error in
            "\(error)" == "stat /a/b on \(address): connection lost: closed by the client"
        }
        await listener.close()
    }

    @Test func aFailedDialIsReportedAsSuch() async throws {
        await #expect {
            try await NinePClient.connect(to: "unix!/nonexistent/ninep", group: MultiThreadedEventLoopGroup.singleton)
        } throws: { error in
            "\(error)" == "cannot dial unix!/nonexistent/ninep: no such file or directory"
        }
    }
}

extension ConnectTests {
    @Test func anExecCommandThatDiesIsReportedWithItsStatus() async throws {
        await #expect {
            try await NinePClient.connect(to: "exec!exit 3", group: MultiThreadedEventLoopGroup.singleton)
        } throws: { error in
            // Whether the Tversion met a closed pipe or end of file depends on timing.
            let text = "\(error)"
            return text.hasPrefix("version on exec!exit 3: connection lost: ") && text.hasSuffix("; the command exited with status 3")
        }
    }
}
