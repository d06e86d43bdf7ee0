import FuseLowLevel
import NinePFuse
import Testing

@Suite("-o mount options")
struct MountOptionsTests {
    @Test func defaults() throws {
        let options = try MountOptions(parsing: [])
        #expect(options == MountOptions())
        #expect(options.attrTimeout == 1 && options.entryTimeout == 1)
        #expect(!options.directIO && !options.writebackCache && !options.readOnly)
        let session = options.sessionOptions(defaultFsName: "9p:unix!/tmp/s")
        #expect(session.fsName == "9p:unix!/tmp/s")
        #expect(session.readdirPlus == .auto)
        #expect(!session.writebackCache)
        #expect(session.maxWrite == 1 << 20 && session.maxRead == 1 << 20)
        #expect(session.asyncRead && session.parallelDirops)
        #expect(session.readAheadKiB == 4096)
    }

    /// direct_io asks for no caching at all: the timeouts not given
    /// explicitly are 0, whichever order the options come in.
    @Test func directIOCachesNothing() throws {
        let direct = try MountOptions(parsing: ["direct_io"])
        #expect(direct.attrTimeout == 0 && direct.entryTimeout == 0 && direct.negativeTimeout == 0)
        for arguments in [["attr_timeout=5,direct_io"], ["direct_io", "attr_timeout=5"]] {
            let mixed = try MountOptions(parsing: arguments)
            #expect(mixed.attrTimeout == 5 && mixed.entryTimeout == 0 && mixed.negativeTimeout == 0)
        }
        var set = MountOptions()
        set.directIO = true
        #expect(set.negativeTimeout == 0 && set == direct)
    }

    @Test func everyOption() throws {
        let options = try MountOptions(parsing: [
            "direct_io,writeback", "attr_timeout=2.5", "entry_timeout=0", "negative_timeout=0",
            "allow_other,default_permissions,ro", "fsname=tcp!host!564", "subtype=ninep", "readdirplus=always",
            "threads=8", "debug", "read_ahead_kb=2048",
        ])
        #expect(options.directIO && options.writebackCache)
        #expect(options.attrTimeout == 2.5 && options.entryTimeout == 0 && options.negativeTimeout == 0)
        #expect(options.allowOther && options.defaultPermissions && options.readOnly)
        #expect(options.fsName == "tcp!host!564" && options.subtype == "ninep")
        #expect(options.readdirPlus == .always && options.workerThreads == 8 && options.fuseDebug)
        let session = options.sessionOptions(defaultFsName: "ignored")
        #expect(session.fsName == "tcp!host!564" && session.readAheadKiB == 2048)
        #expect(session.allowOther && session.defaultPermissions && session.readOnly && session.writebackCache)
        #expect(try MountOptions(parsing: ["ro", "rw"]).readOnly == false)
        #expect(try MountOptions(parsing: ["writeback_cache"]).writebackCache)
    }

    @Test("bad options are refused with a message naming them", arguments: [
        ("nosuchthing", MountOptionsError.unknown(option: "nosuchthing")),
        ("attr_timeout", .missingValue(option: "attr_timeout")),
        ("attr_timeout=soon", .badValue(option: "attr_timeout", value: "soon", expected: "a number of seconds ≥ 0")),
        ("entry_timeout=-1", .badValue(option: "entry_timeout", value: "-1", expected: "a number of seconds ≥ 0")),
        ("ro=1", .unexpectedValue(option: "ro")),
        ("fsname=", .missingValue(option: "fsname")),
        ("readdirplus=sometimes", .badValue(option: "readdirplus", value: "sometimes", expected: "auto, always or never")),
        ("read_ahead_kb=-1", .badValue(option: "read_ahead_kb", value: "-1", expected: "a size in KiB from 0 to 1048576")),
        ("threads=0", .badValue(option: "threads", value: "0", expected: "a thread count from 1 to 64")),
    ])
    func refused(_ argument: String, _ expected: MountOptionsError) {
        #expect(throws: expected) { try MountOptions(parsing: [argument]) }
        #expect("\(expected)".contains(argument.split(separator: "=").first.map(String.init) ?? argument))
    }

    @Test func unknownOptionListsTheKnownOnes() {
        let message = "\(MountOptionsError.unknown(option: "bogus"))"
        #expect(message.contains("bogus") && message.contains("direct_io") && message.contains("attr_timeout=N"))
    }
}
