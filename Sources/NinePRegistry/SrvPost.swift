public import NIOCore
public import NIOPosix
public import NinePClient
public import NinePTransport
public import NinePWire

/// The client side of the srv registry: what `ninep post`, `ninep srv rm`,
/// a server's `--post` and NinePKit's `RegistryPoster` do to it, in one
/// place.
///
/// An entry's text is a dial string, or a dial string and the path of one
/// file of the tree served there (`unix!/tmp/ns.glenda.:0/ctl /ctl`): such
/// an entry is that file, a file2chan file placed in the registry, which
/// reads and writes through the registry reach.
///
/// Who calls: any task.
public enum SrvPost {
    /// What is written into an entry for `address`, or for its file `file`.
    public static func entryText(_ address: NinePAddress, file: String? = nil) -> String {
        file.map { "\(address) /\($0.drop { $0 == "/" })" } ?? address.description
    }

    /// The unix socket a server posted as `name` listens on when it is given
    /// no address of its own: `NS/NAME`, plan9port's convention (a name
    /// inside a service directory, `1/db`, becomes `NS/1.db`).
    public static func socketPath(for name: String, in directory: String = SrvNamespace.directory) -> String {
        "\(directory)/\(name.split(separator: "/").joined(separator: "."))"
    }

    /// Creates `name` (`id1/name` inside a service directory) and writes
    /// `text` into it. With `hold`, the entry is opened ORCLOSE and its fid
    /// returned open: the registry removes the entry when that fid is
    /// clunked or the connection ends, however the poster ends.
    ///
    /// - Throws: the registry's reason, e.g. "service x already posted".
    @discardableResult
    public static func post(_ client: NinePClient, root: Fid, name: String, text: String, hold: Bool = false) async throws -> Fid? {
        let mode = hold ? OpenMode(rawValue: OpenMode.write.rawValue | OpenMode.removeOnCloseBit) : .write
        let fid = try await client.create(path: name, perm: FileMode(permissions: 0o666), mode: mode, from: root)
        do {
            _ = try await client.write(fid, offset: 0, data: ByteBuffer(string: text + "\n"))
        } catch {
            // Leave nothing half-posted: the registry drops unwritten entries on clunk.
            try? await client.clunk(fid)
            throw error
        }
        if hold { return fid }
        try await client.clunk(fid)
        return nil
    }

    /// Removes `name`, but only while it still holds `address` (when
    /// given), so a server never unposts a successor that took its name.
    public static func remove(_ client: NinePClient, root: Fid, name: String, ifAddress address: String? = nil) async throws {
        let fid = try await client.walk(path: name, from: root)
        if let address {
            _ = try await client.open(fid, mode: .read)
            let text = String(buffer: try await client.readAll(fid))
            guard RegistryTree.fields(of: text).first == address else {
                try? await client.clunk(fid)
                return
            }
        }
        try await client.remove(fid)
    }

    /// Posts `text` under `name` in the registry of `directory` and holds
    /// the entry (see `HeldEntry`).
    ///
    /// - Throws: "no srv registry at …" when none runs there, or the
    ///   registry's reason for refusing the name.
    public static func hold(
        name: String, text: String, directory: String? = nil, uname: String,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> HeldEntry {
        let registry = SrvNamespace.registryAddress(in: directory)
        let client: NinePClient
        do {
            client = try await NinePClient.connect(to: registry, group: group)
        } catch {
            throw NinePError("cannot post \(name): no srv registry at \(registry) (\(error)); start one with 'ninep srv'")
        }
        do {
            let root = try await client.attach(uname: uname)
            let fid = try await post(client, root: root, name: name, text: text, hold: true)
            return HeldEntry(name: name, client: client, fid: fid!)
        } catch {
            await client.close()
            throw error
        }
    }
}

/// A posted entry held open with ORCLOSE on a connection to the registry
/// that lives as long as the poster: `release()` clunks it (the registry
/// removes the entry), and if the poster dies the registry sees the
/// connection end and removes the entry itself, so a crashed server never
/// leaves a stale name behind.
///
/// Thread safety: immutable; release once.
public struct HeldEntry: Sendable {
    /// The name the entry was posted under.
    public let name: String
    let client: NinePClient
    let fid: Fid

    /// Removes the entry and closes the connection to the registry.
    public func release() async throws {
        do {
            try await client.clunk(fid)
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    }
}
