import ArgumentParser
import Foundation
import Glibc
import Logging
import NIOCore
import NIOPosix
import NinePClient
import NinePRegistry
import NinePServer
import NinePTransport
import NinePWire
import ServiceLifecycle

/// The registry's dial string for `--dir DIR` (default: the namespace directory).
func registryDialString(_ dir: String?) -> String {
    let path = SrvNamespace.socketPath(in: dir)
    guard access(path, F_OK) == 0 else {
        fail("no srv registry is running at \(path): start one with 'ninep srv'\(dir == nil ? " (or set $NAMESPACE)" : "")")
    }
    return "unix!\(path)"
}

struct Srv: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The srv registry: name services so every ninep command can reach them by name.",
        discussion: """
            After 9front's srv(3). 'ninep srv' serves the registry as a 9P file server on the \
            unix socket NS/ninep-srv, where NS is plan9port's namespace directory: $NAMESPACE, \
            else /tmp/ns.$USER.$DISPLAY (DISPLAY defaults to :0), created mode 0700. Every \
            ninep command finds it there without flags.

            THE TREE
              clone          opening it makes a service directory; reading it gives its id
              NAME           an entry: reads as its address; 'ADDR gone', mode 0000,
                             once nothing answers there
              ID/…           service directories nest, each with its own clone
              NAME (file)    a file a program placed here (ninep file2chan --post NAME):
                             reads and writes of it reach the program

            Post by creating a file and writing a dial string into it (once); release by \
            removing it. Wherever ninep takes an ADDR, srv!NAME or a bare NAME (no '!', ':' or \
            '/') is looked up here; srv!ID1/ID2/NAME reaches into service directories, and \
            $NINEP_SRVSPEC=ID1/ID2 makes names resolve inside that directory (like $srvspec). \
            An entry whose address is unix!PATH also appears as NS/NAME (a symbolic link), so \
            plan9port's tools reach it by name.

            A local server can instead hand its listening unix socket to the registry \
            (--post NAME --hand-over, SCM_RIGHTS over NS/ninep-srv.fd): the registry holds it \
            until 'ninep srv rm NAME', and shows the entry as gone while no server holds it.

            State is saved to NS/ninep-srv.state after every change; on restart, entries whose \
            server no longer answers are dropped and reported on standard error. A handed-over \
            socket cannot outlive the registry: on restart its entry is kept as a plain entry \
            if its server still answers (and reported as no longer held), else dropped with \
            its socket file.

            EXAMPLES
              ninep srv &                              # serve the registry
              ninep ramfs --post scratch &             # serve and post under 'scratch'
              ninep post share tcp!fileserver!564      # post an address
              ninep ls scratch /                       # dial by name
              ninep mount scratch /mnt/scratch
              ninep srv ls -l                          # list entries (gone ones marked)
              ninep srv clone                          # make a service directory: prints 1
              ninep post 1/db unix!/tmp/db.sock        # post inside it; dial srv!1/db
              ninep srv rm share
              ninep mount unix!$NAMESPACE/ninep-srv /mnt/srv   # browse it with ls
            """,
        subcommands: [SrvServe.self, SrvLs.self, SrvRm.self, SrvClone.self],
        defaultSubcommand: SrvServe.self)
}

/// Where the registry lives, for every srv subcommand and `post`.
struct RegistryLocation: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The namespace directory holding the registry (default: $NAMESPACE, else /tmp/ns.$USER.$DISPLAY).",
        valueName: "dir"))
    var dir: String?
}

struct SrvServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the registry on NS/ninep-srv until SIGINT or SIGTERM (the default subcommand).")

    @OptionGroup var location: RegistryLocation
    @Flag(name: .customShort("D"), help: "Print every 9P message received and sent on standard error.")
    var debug = false

    func run() async throws {
        bootstrapLogging(debug: debug)
        let logger = Logger(label: "ninep.srv")
        await runUntilSignalled(
            RegistryService(directory: location.dir ?? SrvNamespace.directory, debug: debug, logger: logger), logger: logger)
    }
}

/// Runs the registry until graceful shutdown. Who calls: the ServiceGroup.
struct RegistryService: Service {
    let directory: String
    let debug: Bool
    let logger: Logger

    func run() async throws {
        var options = ServerOptions()
        options.trace = debug
        options.logger = logger
        let server = try await SrvRegistryServer.start(directory: directory, options: options) { problem in
            FileHandleStderr.write("ninep srv: \(problem)\n")
        }
        for line in server.restartReport { FileHandleStderr.write("ninep srv: \(line)\n") }
        // Scripts and tests wait for this line.
        FileHandleStderr.write("ninep: serving srv registry on \(server.address)\n")
        try? await gracefulShutdown()
        logger.notice("shutting down")
        await server.close()
    }
}

struct SrvLs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List posted services, service directories included.",
        discussion: "Each line is a path, e.g. 'scratch' or '1/db'; a service whose server no longer answers is followed by '(gone)', a file a program placed in the registry (ninep file2chan --post) by '(file)'. With -l: path, address, and 'gone' for dead ones.")

    @OptionGroup var location: RegistryLocation
    @Flag(name: .customShort("l"), help: "Also print each service's address.") var long = false

    func run() async throws {
        let options = try ClientOptions.parse([])
        let lines = await withSession(options, address: registryDialString(location.dir)) { client, root in
            try await listing(client, root, prefix: "")
        }
        for line in lines { print(line) }
    }

    private func listing(_ client: NinePClient, _ dir: Fid, prefix: String) async throws -> [String] {
        let fid = try await client.walk(from: dir, names: [])
        _ = try await client.open(fid, mode: .read)
        let entries = try await client.readdir(fid).sorted { $0.name < $1.name }
        try await client.clunk(fid)
        var lines: [String] = []
        for e in entries where e.name != "clone" {
            let path = prefix + e.name
            if e.mode.isDirectory {
                lines.append(path + "/")
                let sub = try await client.walk(from: dir, names: [e.name])
                lines += try await listing(client, sub, prefix: path + "/")
                try await client.clunk(sub)
                continue
            }
            let gone = e.mode.permissions == 0
            // A file entry is not read: that would reach its program.
            let isFile = e.mode.contains(.tmp)
            let notes = (isFile ? ["file"] : []) + (gone ? ["gone"] : [])
            guard long, !isFile else {
                lines.append(notes.isEmpty ? path : "\(path) (\(notes.joined(separator: ", ")))")
                continue
            }
            let f = try await client.walk(from: dir, names: [e.name])
            _ = try await client.open(f, mode: .read)
            let text = String(buffer: try await client.readAll(f)).trimmingCharacters(in: .newlines)
            try await client.clunk(f)
            lines.append("\(path)\t\(text)")
        }
        return lines
    }
}

struct SrvRm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Release a posted service (or an empty service directory).")

    @OptionGroup var location: RegistryLocation
    @Argument(help: "The service's name (ID/NAME inside a service directory).") var name: String

    func run() async throws {
        let options = try ClientOptions.parse([])
        await withSession(options, address: registryDialString(location.dir)) { client, root in
            try await SrvPost.remove(client, root: root, name: name)
        }
    }
}

struct SrvClone: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clone",
        abstract: "Allocate a new service directory and print its path (e.g. 1, or 1/2 inside PARENT 1).")

    @OptionGroup var location: RegistryLocation
    @Argument(help: "The service directory to make it in (default: the root).") var parent: String?

    func run() async throws {
        let options = try ClientOptions.parse([])
        let id = await withSession(options, address: registryDialString(location.dir)) { client, root in
            let names = (parent ?? "").split(separator: "/").map(String.init) + ["clone"]
            let fid = try await client.walk(from: root, names: names)
            _ = try await client.open(fid, mode: .read)
            let text = String(buffer: try await client.readAll(fid)).trimmingCharacters(in: .whitespacesAndNewlines)
            try await client.clunk(fid)
            return text
        }
        print(parent.map { "\($0)/\(id)" } ?? id)
    }
}

struct Post: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Post a service's address in the srv registry under NAME.",
        discussion: """
            NAME may be inside a service directory (1/db). It is an error if NAME is already \
            posted. ADDR followed by a blank and the absolute path of one of its files \
            ('unix!/tmp/ctl.sock /ctl') posts that file instead: the entry reads and writes as \
            the file. Afterwards srv!NAME, or plain NAME, works wherever ninep takes an ADDR:
              ninep post share tcp!fileserver!564
              ninep ls share /
            """)

    @OptionGroup var location: RegistryLocation
    @Argument(help: "The name to post under.") var name: String
    @Argument(help: "The service's dial string (tcp!host!port, unix!/path, host:port, exec!command).") var address: String

    func run() async throws {
        let options = try ClientOptions.parse([])
        await withSession(options, address: registryDialString(location.dir)) { client, root in
            _ = try await SrvPost.post(client, root: root, name: name, text: address)
        }
    }
}
