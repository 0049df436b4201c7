import CLibgit2
import FoundationEssentials

/// The user's own git settings, read from the files git reads (`/etc/gitconfig`, `$XDG_CONFIG_HOME/git/config` or
/// `~/.config/git/config`, `~/.gitconfig`), for the CLI: the resource executables never read them.
public enum UserConfiguration {
    /// The value of `key` (such as `user.name`) in the user's git configuration files, the most specific file
    /// winning, or nil when no file sets it or none can be read.
    ///
    /// Calls `git_config_new`, `git_config_add_file_ondisk` and `git_config_get_entry`.
    /// - Parameter environment: the process environment (`HOME`, `XDG_CONFIG_HOME`).
    public static func value(_ key: String, environment: [String: String]) -> String? {
        Libgit2.initializeOnce()
        var config: OpaquePointer?
        guard git_config_new(&config) == 0, let config else { return nil }
        defer { git_config_free(config) }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 }
        let xdgBase = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home.map { "\($0)/.config" }
        let files: [(String?, git_config_level_t)] = [
            ("/etc/gitconfig", GIT_CONFIG_LEVEL_SYSTEM), (xdgBase.map { "\($0)/git/config" }, GIT_CONFIG_LEVEL_XDG),
            (home.map { "\($0)/.gitconfig" }, GIT_CONFIG_LEVEL_GLOBAL),
        ]
        for case (let path?, let level) in files where FileManager.default.isReadableFile(atPath: path) {
            _ = git_config_add_file_ondisk(config, path, level, nil, 0)
        }
        var entry: UnsafeMutablePointer<git_config_entry>?
        guard git_config_get_entry(&entry, config, key) == 0, let entry else { return nil }
        defer { git_config_entry_free(entry) }
        guard let value = entry.pointee.value else { return nil }
        return String(cString: value)
    }
}
