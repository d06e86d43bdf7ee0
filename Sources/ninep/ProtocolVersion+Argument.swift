public import ArgumentParser
public import NinePWire

/// `--dialect 9P2000|9P2000.u|9P2000.L` on every command that speaks 9P:
/// the spellings are the Tversion strings themselves.
extension ProtocolVersion: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument) }

    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}
