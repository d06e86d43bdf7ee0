import ArgumentParser

/// The `ninep` command: serve, browse and mount 9P2000 file trees.
@main
struct Ninep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ninep",
        abstract: "Serve, browse and mount 9P2000 file trees.",
        discussion: """
            ADDRESSES
              Every ADDR is a dial string:
                tcp!HOST!PORT     TCP (PORT defaults to 564, the 9P port)
                HOST:PORT         TCP ([::1]:564 for IPv6)
                tls!HOST!PORT     TLS 1.3 over TCP: clients check the server with
                                  --ca FILE or --pin sha256:HEX, servers show
                                  --cert FILE --key FILE (see 'ninep cert --help')
                unix!/PATH        a Unix-domain stream socket
                exec!COMMAND      run COMMAND and speak 9P on its stdin/stdout,
                                  e.g. 'exec!ssh host ninep export /home/me'
                srv!NAME, NAME    a service posted in the srv registry (see
                                  'ninep srv --help'); NAME has no '!', ':' or '/'.
                                  Write tcp!HOST for a host's 9P port.
              A server's --listen takes the same forms, with tcp!*!PORT for
              every interface and port 0 for any free port.

            EXAMPLES
              ninep export --listen unix!/tmp/share.9p ~/share
              ninep ls -l unix!/tmp/share.9p /
              ninep read unix!/tmp/share.9p notes/todo.txt
              echo hi | ninep write unix!/tmp/share.9p hello.txt
              ninep mount unix!/tmp/share.9p /mnt/share
              ninep unmount /mnt/share

            MOUNT(8) AND /ETC/FSTAB
              'ninep SOURCE MOUNTPOINT -o OPTIONS' is 'ninep mount' in the form mount(8)
              runs it for /etc/fstab lines of type fuse.ninep (see 'ninep help mount').

            Errors print the server's own error text with the path, and exit 1.
            """,
        subcommands: [
            Export.self, Ramfs.self, File2ChanCommand.self, Srv.self, Post.self, Mount.self, Unmount.self, Cert.self,
            Ls.self, StatCommand.self, Read.self, Write.self, Create.self, Mkdir.self, Rm.self, Mv.self,
        ]
    )

    /// Runs the command line, where `ninep SOURCE MOUNTPOINT -o OPTIONS`
    /// (mount(8)'s form, see `MountHelper`) means `ninep mount`.
    static func main() async {
        await main(commandArguments)
    }

    /// The arguments as the commands take them: the mount helper form
    /// already turned into `ninep mount`'s. Exits 1 if that form is wrong.
    static var commandArguments: [String] {
        do {
            return try MountHelper.commandArguments(Array(CommandLine.arguments.dropFirst()))
        } catch {
            fail("\(error)")
        }
    }
}
