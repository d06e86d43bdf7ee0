import Glibc
import Logging

/// Log lines for systemd's journal: each line starts with its syslog
/// priority as `<N>` (sd-daemon(3)), which the journal strips and records,
/// and carries no time stamp, since the journal adds its own.
///
/// Who calls: any thread, through swift-log; each line goes out in one write(2).
struct JournalLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .notice
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let details = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        // One line per entry: a newline inside a message would start a new
        // journal entry at the default priority.
        let text = "\(event.message)\(details)".replacingNewlines()
        FileHandleStderr.write("<\(Self.priority(event.level))>\(label): \(text)\n")
    }

    /// The syslog priority of a swift-log level (syslog(3): 2 crit … 7 debug).
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Whether standard error goes to the journal, or this process runs as
    /// a systemd service: `JOURNAL_STREAM` names standard error's device
    /// and inode (systemd.exec(5)), `INVOCATION_ID` is set for every unit.
    static var isJournal: Bool {
        if getenv("INVOCATION_ID") != nil { return true }
        guard let stream = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return stream == "\(st.st_dev):\(st.st_ino)"
    }
}

extension String {
    /// The text with line breaks turned into spaces.
    func replacingNewlines() -> String {
        String(map { $0.isNewline ? " " : $0 })
    }
}
