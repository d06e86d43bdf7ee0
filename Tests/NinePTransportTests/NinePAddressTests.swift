import NinePTransport
import Testing

@Suite struct NinePAddressTests {
    @Test(arguments: [
        ("tcp!example.com!5640", NinePAddress.tcp(host: "example.com", port: 5640)),
        ("tcp!example.com", .tcp(host: "example.com", port: 564)),
        ("net!example.com!9fs", .tcp(host: "example.com", port: 564)),
        ("tcp!127.0.0.1!0", .tcp(host: "127.0.0.1", port: 0)),
        ("tcp!::1!5640", .tcp(host: "::1", port: 5640)),
        ("tcp![::1]!5640", .tcp(host: "::1", port: 5640)),
        ("unix!/tmp/ns.glenda/ramfs", .unix(path: "/tmp/ns.glenda/ramfs")),
        ("unix!relative/sock", .unix(path: "relative/sock")),
        ("localhost:5640", .tcp(host: "localhost", port: 5640)),
        ("[::1]:5640", .tcp(host: "::1", port: 5640)),
        ("[fe80::1]", .tcp(host: "fe80::1", port: 564)),
        ("::1", .tcp(host: "::1", port: 564)),
        ("example.com", .srv(name: "example.com")),
        ("ramfs", .srv(name: "ramfs")),
        ("srv!id1/id2/ramfs", .srv(name: "id1/id2/ramfs")),
        ("srv!/id1/ramfs", .srv(name: "/id1/ramfs")),
        ("  tcp!h!1  ", .tcp(host: "h", port: 1)),
        ("exec!u9fs -D -a none", .exec(command: "u9fs -D -a none")),
        ("exec!  cat  ", .exec(command: "cat")),
        ("srv!ramfs", .srv(name: "ramfs")),
        ("tls!example.com!5640", .tls(host: "example.com", port: 5640)),
        ("tls!example.com", .tls(host: "example.com", port: 564)),
        ("tls![::1]!9fs", .tls(host: "::1", port: 564)),
    ])
    func parsesDialStrings(_ string: String, _ expected: NinePAddress) throws {
        let address = try NinePAddress(dialString: string)
        #expect(address == expected)
        #expect(try NinePAddress(dialString: address.description) == address)
    }

    @Test(arguments: [
        ("tcp!*!564", NinePAddress.tcp(host: "0.0.0.0", port: 564)),
        ("tcp!0.0.0.0!0", .tcp(host: "0.0.0.0", port: 0)),
        ("tcp!127.0.0.1!0", .tcp(host: "127.0.0.1", port: 0)),
        ("*:5640", .tcp(host: "0.0.0.0", port: 5640)),
        (":5640", .tcp(host: "0.0.0.0", port: 5640)),
        ("[::]:5640", .tcp(host: "::", port: 5640)),
        ("unix!/tmp/sock", .unix(path: "/tmp/sock")),
        ("tls!*!564", .tls(host: "0.0.0.0", port: 564)),
        ("srv!ramfs", .srv(name: "ramfs")),
    ])
    func parsesListenStrings(_ string: String, _ expected: NinePAddress) throws {
        #expect(try NinePAddress(listenString: string) == expected)
    }

    @Test(arguments: [
        ("", "empty address"),
        ("   ", "empty address"),
        ("tcp!", "missing host"),
        ("tcp!!564", "missing host"),
        ("tcp!h!", "missing port"),
        ("tcp!h!port", "bad port 'port'"),
        ("tcp!h!70000", "bad port '70000'"),
        ("tcp!h!-1", "bad port '-1'"),
        ("tcp!h!1!2", "too many '!' fields"),
        ("tcp!*!564", "cannot dial the wildcard host"),
        ("tcp!a b!564", "bad host 'a b'"),
        ("h:", "missing port"),
        (":564", "missing host"),
        ("h:x", "bad port 'x'"),
        ("[::1", "missing ']'"),
        ("[::1]x", "unexpected 'x'"),
        ("unix!", "missing socket path"),
        ("unix!/" + String(repeating: "a", count: 120), "longer than 107 bytes"),
        ("exec!", "missing command"),
        ("exec!   ", "missing command"),
        ("srv!", "missing service name"),
        ("srv!a//b", "bad service name"),
        ("srv!a/../b", "bad service name"),
        ("srv!a/", "bad service name"),
        ("some/path", "needs unix! in front"),
        ("foo!bar", "unknown network 'foo'"),
    ])
    func rejectsBadDialStrings(_ string: String, _ reason: String) {
        #expect {
            try NinePAddress(dialString: string)
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("bad dial string '\(string)': ") && text.contains(reason)
                && text.contains("(expected tcp!host!port, tls!host!port, unix!/path")
        }
    }

    @Test func refusesToListenOnExec() {
        #expect {
            try NinePAddress(listenString: "exec!cat")
        } throws: { error in
            "\(error)".hasPrefix("bad listen string 'exec!cat': exec! addresses can only be dialled")
        }
    }
}
