// CLibgit2 for `sigset_t`: with swift-certificates' modules loaded, <signal.h> is owned by the first clang module
// that includes it (git2.h), and MemberImportVisibility wants that module imported.
import CLibgit2
import Glibc
import StringSupport

/// A child process whose standard streams are pipes to this process: the OpenSSH client behind lockpool's ssh
/// transport (docs/decisions/0010-openssh-transport.md).
///
/// Hand-written on `posix_spawnp` rather than swift-subprocess: libgit2 drives a transport through synchronous C
/// callbacks that read and write file descriptors, and swift-subprocess offers an async API that owns its pipes.
final class SpawnedProcess {
    let pid: pid_t
    /// The write end of the child's standard input, or -1 when it reads `/dev/null`.
    private(set) var input: Int32
    /// The read end of the child's standard output, or -1 when it writes to `/dev/null`.
    private(set) var output: Int32
    /// The read end of the child's standard error.
    private(set) var errors: Int32
    /// The status `waitpid` reported, once reaped.
    private(set) var status: Int32?

    /// What the child wrote on standard error so far (at most 64 KiB), read by `collectErrors`.
    private(set) var errorText: [UInt8] = []

    /// Starts `arguments[0]` (searched on `PATH`) with `environment`.
    ///
    /// - Parameters:
    ///   - pipesInput: whether standard input is a pipe (else `/dev/null`).
    ///   - pipesOutput: whether standard output is a pipe (else `/dev/null`).
    /// - Returns: nil when the process cannot be started (errno set).
    init?(arguments: [String], environment: [String: String], pipesInput: Bool, pipesOutput: Bool) {
        var inputPipe: [Int32] = [-1, -1]
        var outputPipe: [Int32] = [-1, -1]
        var errorPipe: [Int32] = [-1, -1]
        func closeAll() { (inputPipe + outputPipe + errorPipe).filter { $0 >= 0 }.forEach { _ = Glibc.close($0) } }
        guard !pipesInput || closingOnExec(&inputPipe), !pipesOutput || closingOnExec(&outputPipe),
            closingOnExec(&errorPipe)
        else {
            closeAll()
            return nil
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if pipesInput {
            posix_spawn_file_actions_adddup2(&actions, inputPipe[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        if pipesOutput {
            posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, errorPipe[1], 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Signals this process ignores or blocks (SIGPIPE, say) must not stay ignored or blocked in the child.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP] { sigaddset(&defaults, signal) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child = pid_t()
        let started = posix_spawnp(&child, arguments[0], &actions, &attributes, argv, envp)
        // The child's ends are the child's now.
        for fd in [inputPipe[0], outputPipe[1], errorPipe[1]] where fd >= 0 { Glibc.close(fd) }
        guard started == 0 else {
            for fd in [inputPipe[1], outputPipe[0], errorPipe[0]] where fd >= 0 { Glibc.close(fd) }
            errno = started
            return nil
        }
        pid = child
        input = inputPipe[1]
        output = outputPipe[0]
        errors = errorPipe[0]
    }

    deinit { terminate() }

    /// Closes standard input: the child reads end of file.
    func closeInput() {
        if input >= 0 { Glibc.close(input) }
        input = -1
    }

    /// Reads what standard error holds now, without waiting (`block` false), or until the child closes it.
    func collectErrors(block: Bool) {
        guard errors >= 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var poller = pollfd(fd: errors, events: Int16(POLLIN), revents: 0)
            guard block || poll(&poller, 1, 0) > 0 else { return }
            let count = read(errors, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                Glibc.close(errors)
                errors = -1
                return
            }
            if errorText.count < 64 * 1024 { errorText += buffer[0..<count] }
        }
    }

    /// Waits for the child to end; its wait status.
    @discardableResult
    func wait() -> Int32 {
        if let status { return status }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        status = raw
        return raw
    }

    /// Whether the child has ended (reaping it when it has).
    var hasExited: Bool {
        if status != nil { return true }
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return false }
        status = raw
        return true
    }

    /// The child's exit code, or nil while it runs or when a signal ended it.
    var exitCode: Int32? {
        guard let status, status & 0x7f == 0 else { return nil }
        return (status >> 8) & 0xff
    }

    /// What the child wrote on standard error, as text, trimmed.
    var errorMessage: String {
        String(decoding: errorText, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimming(.whitespaces) }.filter { !$0.isEmpty }.joined(separator: "\n")
    }

    /// Ends the child (SIGTERM, then waits) unless it has ended, and closes the pipes.
    func terminate() {
        closeInput()
        if output >= 0 { Glibc.close(output) }
        output = -1
        if !hasExited {
            kill(pid, SIGTERM)
            wait()
        }
        if errors >= 0 { Glibc.close(errors) }
        errors = -1
    }
}

/// Makes a pipe whose ends close on `exec` (the child gets its own copies through `dup2`); false when it cannot.
func closingOnExec(_ ends: inout [Int32]) -> Bool {
    guard pipe(&ends) == 0 else { return false }
    for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return true
}
