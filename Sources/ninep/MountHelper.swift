import ArgumentParser
import Foundation
import NinePFuse

/// `ninep SOURCE MOUNTPOINT -o OPTIONS`: the form in which mount(8) runs a
/// FUSE file system. For `mount -t fuse.ninep SOURCE DIR -o OPTS` (or an
/// /etc/fstab line of type `fuse.ninep`), util-linux runs `mount.fuse`
/// (fuse3's mount.fuse3), which drops the options meant for itself
/// (`user`, `users`, `nouser`, `auto`, `noauto`, `nofail`, `_netdev`;
/// `setuid=USER` and `drop_privileges` it carries out), adds `dev,suid`
/// unless told `nodev`/`nosuid`, and runs `/bin/sh -c 'ninep SOURCE DIR -o OPTS'`.
///
/// That form is `ninep mount` with every option written as `-o`:
/// - an option of `ninep mount` by its long name, `_` for `-`
///   (`aname=`, `uname=`, `msize=`, `reconnect_timeout=`, `no_reconnect`…),
///   read from the command's own definition, so a new option of
///   `ninep mount` is a new `-o` option with nothing to add here;
/// - a FUSE option (`MountOptions`: `direct_io`, `attr_timeout=`, `ro`,
///   `noexec`…), passed on as `-o`;
/// - what only mount(8), fstab and systemd read (`isMountOnly`), dropped.
enum MountHelper {
    /// The arguments `ninep` runs with: `arguments` itself, or, when they
    /// are the mount helper form, the `ninep mount` arguments they mean.
    static func commandArguments(_ arguments: [String]) throws(MountHelperError) -> [String] {
        guard let source = arguments.first, arguments.count >= 2,
            !source.hasPrefix("-"), !arguments[1].hasPrefix("-"), !subcommandNames.contains(source)
        else { return arguments }
        let mountpoint = arguments[1]
        var client: [String] = []
        var fuse: [String] = []
        var rest: [String] = []
        var i = 2
        while i < arguments.count {
            let argument = arguments[i]
            i += 1
            let list: String
            if argument == "-o" {
                guard i < arguments.count else { throw .missingValue }
                list = arguments[i]
                i += 1
            } else if argument.hasPrefix("-o") {
                list = String(argument.dropFirst(2))
            } else {
                rest.append(argument)
                continue
            }
            for option in list.split(separator: ",").map(String.init) {
                let parts = option.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let key = parts[0]
                if isMountOnly(key) { continue }
                if let kind = commandOptions[key.replacingOccurrences(of: "_", with: "-")] {
                    client += try kind.arguments(key: key, value: parts.count > 1 ? parts[1] : nil)
                } else {
                    fuse.append(option)
                }
            }
        }
        // fstab's type is fuse.ninep: show it in /proc/mounts, so that
        // mount(8) and systemd see the line's file system as mounted.
        if !fuse.contains(where: { $0.hasPrefix("subtype=") }) { fuse.append("subtype=ninep") }
        do {
            _ = try MountOptions(parsing: fuse)
        } catch .unknown(let option) {
            throw .unknown(option)
        } catch {
            throw .fuse(error)
        }
        return ["mount"] + client + ["-o", fuse.joined(separator: ",")] + rest + ["--", source, mountpoint]
    }

    /// Options that mount(8), /etc/fstab and systemd read and the file
    /// system has nothing to do with: dropped. mount.fuse3 drops some of
    /// them itself; the rest (`defaults`, `x-systemd.*`, `comment=`…) reach us.
    static func isMountOnly(_ key: String) -> Bool {
        key.hasPrefix("x-") || key.hasPrefix("X-") || [
            "defaults", "auto", "noauto", "nofail", "_netdev", "user", "nouser", "users", "owner", "group",
            "comment",
        ].contains(key)
    }

    /// The names of ninep's subcommands: a first argument that is one is a
    /// command, not a mount source (write such a service as srv!NAME).
    static let subcommandNames: Set<String> = Set(
        Ninep.configuration.subcommands.map { $0._commandName } + ["help"])

    /// How an option of `ninep mount` is written on its command line.
    enum Kind {
        case option, flag

        func arguments(key: String, value: String?) throws(MountHelperError) -> [String] {
            let name = "--" + key.replacingOccurrences(of: "_", with: "-")
            switch (self, value) {
            case (.option, let value?): return [name, value]
            case (.option, nil): throw .optionNeedsValue(key)
            case (.flag, nil): return [name]
            case (.flag, _?): throw .flagTakesNoValue(key)
            }
        }
    }

    /// `ninep mount`'s options and flags by long name, from the command's
    /// own definition (swift-argument-parser's help model, as
    /// `ninep mount --experimental-dump-help` prints it); hidden ones left out.
    static let commandOptions: [String: Kind] = {
        struct Dump: Decodable {
            struct Command: Decodable { var arguments: [Argument]? }
            struct Argument: Decodable {
                struct Name: Decodable { var kind: String; var name: String }
                var kind: String
                var names: [Name]?
                var shouldDisplay: Bool
            }
            var command: Command
        }
        guard let dump = try? JSONDecoder().decode(Dump.self, from: Data(Mount._dumpHelp().utf8)) else { return [:] }
        var table: [String: Kind] = [:]
        for argument in dump.command.arguments ?? [] where argument.shouldDisplay {
            let kind: Kind
            switch argument.kind {
            case "option": kind = .option
            case "flag": kind = .flag
            default: continue
            }
            for name in argument.names ?? [] where name.kind == "long" && name.name != "help" {
                table[name.name] = kind
            }
        }
        return table
    }()
}

/// A mount helper command line (`ninep SOURCE DIR -o …`) that cannot be followed.
enum MountHelperError: Error, CustomStringConvertible {
    case missingValue
    case unknown(String)
    case optionNeedsValue(String)
    case flagTakesNoValue(String)
    case fuse(MountOptionsError)

    var description: String {
        switch self {
        case .missingValue:
            return "-o needs a list of mount options"
        case .unknown(let option):
            let ours = MountHelper.commandOptions.map { $1 == .option ? "\($0.replacingOccurrences(of: "-", with: "_"))=…" : $0.replacingOccurrences(of: "-", with: "_") }
            return "unknown mount option '\(option)' (known: \((ours.sorted() + MountOptions.known).joined(separator: ", ")); "
                + "mount(8)'s defaults, auto, noauto, nofail, _netdev, user, users and x-* are ignored)"
        case .optionNeedsValue(let key):
            return "mount option '\(key)' needs a value (\(key)=…)"
        case .flagTakesNoValue(let key):
            return "mount option '\(key)' takes no value"
        case .fuse(let error):
            return error.description
        }
    }
}
