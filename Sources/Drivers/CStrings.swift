import Glibc

/// Calls `body` with a C array of NUL-terminated strings (nil entries stay NULL), valid only inside.
func withCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) throws -> R) rethrows -> R {
    var pointers: [UnsafePointer<CChar>?] = strings.map { s in s.map { UnsafePointer(strdup($0)!) } }
    pointers.append(nil)
    defer { for p in pointers { free(UnsafeMutablePointer(mutating: p)) } }
    return try pointers.withUnsafeBufferPointer { try body($0.baseAddress!) }
}
