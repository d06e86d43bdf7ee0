import ArgumentParser
import Logging
import NIOCore
import NinePKit
import NinePServer
import NinePTransport
import NinePWire
import Synchronization

struct File2ChanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "file2chan",
        abstract: "Serve a synthetic file whose reads and writes run shell commands (Inferno's file2chan).",
        discussion: """
            Serves a tree holding FILE (a name, or a path whose directories are made) and \
            nothing else. The counterpart of Inferno's sh file2chan.

            READ
              The first read of an open runs the --read command with /bin/sh -c and keeps \
              its standard output as that open's snapshot; every read of the open, at any \
              offset, is served from the snapshot. Each open gets a fresh snapshot, so \
              `cat FILE` twice runs the command twice.

            WRITE
              Every write runs the --write command once, with the written bytes on its \
              standard input, and answers the count of bytes written. (Per write, not \
              per open: a program that writes in pieces runs the command per piece.)

            CLOSE
              When an open ends, the --close command, if given, runs.

            ENVIRONMENT OF THE COMMANDS
              NINEP_FID     the 9P fid of the open (distinct for concurrent opens)
              NINEP_OPEN    a serial number unique to the open
              NINEP_OFFSET  the offset of the read or write
              NINEP_COUNT   the byte count asked by the read

            ERRORS
              A command that exits non-zero, or writes to its standard error, fails the \
              read or write: the client gets the last line of its standard error (else \
              "exit status N") as the 9P error text, verbatim. A read or write interrupted \
              by the client (Ctrl-C on `cat`, a Tflush) sends SIGTERM to the command's \
              process group.

            SERVING
              With --mount MNT the tree is served and mounted on MNT in this one process \
              (with direct_io, so every read reaches the command); unmounting MNT \
              (`ninep unmount MNT`) or SIGINT/SIGTERM ends it, exit 0. With --listen ADDR \
              it accepts clients on ADDR. With --post NAME the file itself is placed in the \
              srv registry as NAME (as Inferno's file2chan places files in #s): reads and \
              writes of NAME in a mount of the registry reach the commands, and the entry \
              goes when this program ends. With none of them, one session is served on \
              standard input and output.

            EXAMPLES
              ninep file2chan --mount /mnt/f2c date --read date
              cat /mnt/f2c/date
              ninep file2chan --mount /mnt/f2c log --write 'cat >> /tmp/log' --read 'cat /tmp/log'
              echo hi > /mnt/f2c/log
              ninep file2chan --listen unix!/tmp/up.9p uptime --read uptime
              ninep read unix!/tmp/up.9p uptime
              ninep file2chan --post uptime uptime --read uptime
              ninep mount unix!$NAMESPACE/ninep-srv /mnt/srv; cat /mnt/srv/uptime
            """)

    @OptionGroup var options: ServeOptions
    @OptionGroup var mounting: MountServeOptions
    @Option(name: .customLong("read"), help: ArgumentHelp("The command whose output a read returns.", valueName: "cmd"))
    var readCommand: String?
    @Option(name: .customLong("write"), help: ArgumentHelp("The command a write feeds on its standard input.", valueName: "cmd"))
    var writeCommand: String?
    @Option(name: .customLong("close"), help: ArgumentHelp("A command run when an open of FILE ends.", valueName: "cmd"))
    var closeCommand: String?
    @Option(help: ArgumentHelp(
        "The most commands running at once; further reads and writes wait for one to finish.", valueName: "n"))
    var maxCommands: Int = 16
    @Argument(help: "The file to serve: a name, or a path in the served tree.") var file: String

    func validate() throws {
        guard !options.handOver else {
            throw ValidationError("--hand-over hands over a whole tree's socket; --post NAME alone places the file in the registry, held until this program ends")
        }
        guard maxCommands > 0 else { throw ValidationError("--max-commands must be positive") }
        guard readCommand != nil || writeCommand != nil else {
            throw ValidationError("give --read CMD, --write CMD or both: FILE would do nothing")
        }
        let names = file.split(separator: "/")
        guard !names.isEmpty, !names.contains(where: { $0 == "." || $0 == ".." }) else {
            throw ValidationError("FILE '\(file)' is not a path of names")
        }
    }

    func run() async throws {
        let user = defaultUserName()
        let fs = RamFS(owner: user, permissions: 0o755)
        var dir = fs.tree.root
        let names = file.split(separator: "/").map(String.init)
        let chan: File2Chan
        do {
            for name in names.dropLast() {
                dir = try dir.create(named: name, uid: user, perm: FileMode(permissions: 0o755, flags: .dir))
            }
            let perm: UInt32 = (readCommand != nil ? 0o444 : 0) | (writeCommand != nil ? 0o222 : 0)
            chan = try File2Chan(in: dir, named: names.last!, owner: user, permissions: perm)
        } catch {
            fail("cannot make \(file): \(error)")
        }
        let program = File2ChanProgram(
            name: file, readCommand: readCommand, writeCommand: writeCommand, closeCommand: closeCommand,
            slots: CommandSlots(limit: maxCommands))
        await withDiscardingTaskGroup { group in
            group.addTask { await program.serveReads(chan) }
            group.addTask { await program.serveWrites(chan) }
            group.addTask { await program.serveCloses(chan) }
            if mounting.mount != nil {
                try? await runServeMount(
                    fs, options: options, mounting: mounting, post: options.post, what: "file2chan \(file)",
                    postFile: file, directIO: true)
            } else {
                try? await runServer(fs, options: options, what: "file2chan \(file)", postFile: file)
            }
            chan.remove()
        }
    }
}

/// What `ninep file2chan` does with the events of its file.
///
/// Who touches what: one task per stream; each read and write runs in a
/// task of its own so that a slow command holds up only its own request.
/// `snapshots` is behind a lock. At most `slots.limit` commands run at
/// once (`--max-commands`); the rest wait their turn in `slots`.
struct File2ChanProgram: Sendable {
    let name: String
    let readCommand: String?
    let writeCommand: String?
    let closeCommand: String?
    private let snapshots = Snapshots()
    let slots: CommandSlots

    init(name: String, readCommand: String?, writeCommand: String?, closeCommand: String?, slots: CommandSlots) {
        self.slots = slots
        self.name = name
        self.readCommand = readCommand
        self.writeCommand = writeCommand
        self.closeCommand = closeCommand
    }

    private func environment(_ fid: File2Chan.OpenFid, offset: UInt64, count: Int) -> [String: String] {
        ["NINEP_FID": "\(fid.fid.rawValue)", "NINEP_OPEN": "\(fid.serial)",
         "NINEP_OFFSET": "\(offset)", "NINEP_COUNT": "\(count)"]
    }

    func serveReads(_ chan: File2Chan) async {
        await withDiscardingTaskGroup { group in
            for await read in chan.reads {
                guard let readCommand else {
                    read.reply.respond(error: "\(name): not readable (no --read command)")
                    continue
                }
                let shell = ShellCommand(
                    command: readCommand, environment: environment(read.fid, offset: read.offset, count: Int(read.count)))
                let snapshot = snapshots.snapshot(for: read.fid) {
                    Task { [slots] in await shell.result(in: slots) }
                }
                // A flushed read stops the command; the next read runs it again.
                read.reply.onCancel { [snapshots] in
                    snapshot.cancel()
                    snapshots.forget(read.fid)
                }
                group.addTask {
                    switch await snapshot.value {
                    case .success(let bytes):
                        let start = Int(clamping: min(read.offset, UInt64(bytes.count)))
                        read.reply.respond(ByteBuffer(bytes: bytes[start...]))
                    case .failure(let error):
                        read.reply.respond(error: error.text)
                    }
                }
            }
        }
    }

    func serveWrites(_ chan: File2Chan) async {
        await withDiscardingTaskGroup { group in
            for await write in chan.writes {
                guard let writeCommand else {
                    write.reply.respond(error: "\(name): not writable (no --write command)")
                    continue
                }
                let shell = ShellCommand(
                    command: writeCommand,
                    environment: environment(write.fid, offset: write.offset, count: write.data.readableBytes))
                let task = Task { [slots] in await shell.result(in: slots, input: Array(write.data.readableBytesView)) }
                write.reply.onCancel { task.cancel() }
                group.addTask {
                    switch await task.value {
                    case .success: write.reply.respond(write.data.readableBytes)
                    case .failure(let error): write.reply.respond(error: error.text)
                    }
                }
            }
        }
    }

    func serveCloses(_ chan: File2Chan) async {
        for await fid in chan.closes {
            snapshots.forget(fid)
            if let closeCommand {
                let shell = ShellCommand(command: closeCommand, environment: environment(fid, offset: 0, count: 0))
                _ = await shell.result(in: slots)
            }
        }
    }
}

extension ShellCommand {
    /// Runs the command once `slots` has room for it.
    func result(in slots: CommandSlots, input: [UInt8] = []) async -> Result<[UInt8], SnapshotError> {
        do {
            return try await slots.run { await result(input: input) }
        } catch {
            return .failure(SnapshotError(text: "interrupted"))
        }
    }

    /// Runs the command: its standard output, or its failure as the client will read it.
    func result(input: [UInt8] = []) async -> Result<[UInt8], SnapshotError> {
        do {
            let output = try await run(input: input)
            if let failure = output.failure { return .failure(SnapshotError(text: failure)) }
            return .success(output.standardOutput)
        } catch {
            return .failure(SnapshotError(text: "\(error)"))
        }
    }
}

/// A command's failure as the client will read it.
struct SnapshotError: Error {
    let text: String
}

/// The read snapshot of each open, made by the first read.
final class Snapshots: Sendable {
    typealias Run = Task<Result<[UInt8], SnapshotError>, Never>
    private let runs = Mutex<[File2Chan.OpenFid: Run]>([:])

    /// The open's snapshot, started with `start` if it has none.
    func snapshot(for fid: File2Chan.OpenFid, start: () -> Run) -> Run {
        runs.withLock { runs in
            if let run = runs[fid] { return run }
            let run = start()
            runs[fid] = run
            return run
        }
    }

    func forget(_ fid: File2Chan.OpenFid) {
        _ = runs.withLock { $0.removeValue(forKey: fid) }
    }
}
