import NinePTesting
import Testing

/// Every subcommand prints its manual: this also catches option clashes,
/// which swift-argument-parser reports only when the command is parsed.
@Suite("ninep --help")
struct CLIHelpTests {
    static let commands = [
        [], ["export"], ["ramfs"], ["file2chan"], ["srv"], ["srv", "ls"], ["srv", "rm"], ["srv", "clone"], ["post"],
        ["mount"], ["unmount"], ["cert"], ["ls"], ["stat"], ["read"], ["write"], ["create"], ["mkdir"], ["rm"], ["mv"],
    ]

    @Test(arguments: commands)
    func help(_ command: [String]) async throws {
        let executable = try NinePProcess.executable()
        let (status, output) = try await runBlocking { try Posix.run([executable] + command + ["--help"]) }
        #expect(status == 0, "ninep \(command.joined(separator: " ")) --help: \(output)")
        #expect(output.contains("OVERVIEW:") && output.contains("USAGE:"), "\(output.prefix(500))")
    }
}

/// `ninep SOURCE MOUNTPOINT -o OPTIONS`, the form mount(8) runs (through
/// mount.fuse3) for /etc/fstab lines of type fuse.ninep: options it cannot
/// follow are refused before anything is dialled or mounted, naming the
/// option. (scripts/integration/install.sh mounts through mount(8) itself.)
@Suite("ninep SOURCE MOUNTPOINT -o OPTIONS")
struct MountHelperFormTests {
    func run(_ arguments: [String]) async throws -> (Int32, String) {
        let executable = try NinePProcess.executable()
        return try await runBlocking { try Posix.run([executable] + arguments) }
    }

    @Test func unknownOptionsAreRefusedByName() async throws {
        let (status, output) = try await run(["tcp!127.0.0.1!1", "/nonexistent", "-o", "_netdev,defaults,bogus_option"])
        #expect(status == 1)
        #expect(output.contains("unknown mount option 'bogus_option'"), "\(output)")
        // The known ones are listed: ninep mount's own, by their -o names, and FUSE's.
        #expect(output.contains("reconnect_timeout=") && output.contains("no_reconnect") && output.contains("direct_io"), "\(output)")
    }

    @Test func optionsOfNinepMountKeepTheirRules() async throws {
        var (status, output) = try await run(["tcp!127.0.0.1!1", "/nonexistent", "-o", "msize"])
        #expect(status == 1 && output.contains("mount option 'msize' needs a value"), "\(output)")
        (status, output) = try await run(["tcp!127.0.0.1!1", "/nonexistent", "-o", "no_reconnect=1"])
        #expect(status == 1 && output.contains("mount option 'no_reconnect' takes no value"), "\(output)")
        // Checked by ninep mount's own validation, as --msize 12 would be.
        (status, output) = try await run(["tcp!127.0.0.1!1", "/nonexistent", "-o", "msize=12"])
        #expect(status != 0 && output.contains("too small"), "\(output)")
        (status, output) = try await run(["tcp!127.0.0.1!1", "/nonexistent", "-o", "no_reconnect,reconnect_timeout=5"])
        #expect(status != 0 && output.contains("--reconnect-timeout makes no sense with --no-reconnect"), "\(output)")
    }

    @Test func mountOnlyOptionsReachTheMount() async throws {
        // Everything understood: the failure is the missing mountpoint, not an option.
        let options = "_netdev,noauto,nofail,defaults,users,x-systemd.automount,comment=x,noexec,nosuid,nodev,dev,suid,aname=,uname=glenda,reconnect_timeout=30,attr_timeout=0"
        let (status, output) = try await run(["tcp!127.0.0.1!1", "/nonexistent-mountpoint", "-o", options, "-f"])
        #expect(status == 1)
        #expect(output.contains("/nonexistent-mountpoint") && output.contains("does not exist"), "\(output)")
    }

    @Test func subcommandsAreStillCommands() async throws {
        let (status, output) = try await run(["unmount", "/nonexistent-mountpoint"])
        #expect(status == 1 && !output.contains("unknown mount option"), "\(output)")
    }
}
