import GatewayCore
import Glibc

/// Finds and reads the SQL migration files: `MIGRATIONS_DIR`, else a `migrations/<kind>` folder
/// beside the executable or up to four folders above it, else `/usr/share/mcp-gateway/migrations`,
/// else the working directory. Files apply in name order.
public enum Migrations {
    public struct File: Sendable { public let name: String; public let sql: String }

    public static func load(kind: String, env: [String: String]) throws(StoreError) -> [File] {
        var candidates: [String] = []
        if let dir = env["MIGRATIONS_DIR"], !dir.isEmpty { candidates.append(dir + "/" + kind) ; candidates.append(dir) }
        var exe = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &exe, exe.count - 1)
        if n > 0 {
            var dir = String(decoding: exe[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            for _ in 0..<5 {
                guard let slash = dir.lastIndex(of: "/") else { break }
                dir = String(dir[..<slash])
                candidates.append(dir + "/migrations/" + kind)
                candidates.append(dir + "/share/mcp-gateway/migrations/" + kind)
            }
        }
        candidates.append("/usr/share/mcp-gateway/migrations/" + kind)
        candidates.append("./migrations/" + kind)
        for dir in candidates {
            let files = sqlFiles(in: dir)
            if !files.isEmpty {
                var out: [File] = []
                for name in files {
                    guard let sql = readFile(dir + "/" + name) else { throw StoreError.failed("cannot read migration \(dir)/\(name)") }
                    out.append(File(name: name, sql: sql))
                }
                return out
            }
        }
        throw StoreError.failed("no migrations found for \(kind) (set MIGRATIONS_DIR)")
    }

    static func sqlFiles(in dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
            if name.hasSuffix(".sql") { names.append(name) }
        }
        return names.sorted()
    }

    static func readFile(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
