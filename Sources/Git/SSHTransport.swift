import CLibgit2
import Glibc

/// libgit2's smart protocol over the pipes of OpenSSH clients: the transport `Remote` gives libgit2 for every ssh URL
/// (`git_remote_callbacks.transport`; docs/decisions/0010-openssh-transport.md). libgit2 speaks git's protocol; the
/// `SSHSession` of the remote runs `ssh … git-upload-pack '<path>'` or `git-receive-pack` for each service, and the
/// stream reads and writes that child's standard output and input.
enum SSHTransport {
    /// Creates the transport for `state`'s session: `git_transport_smart` with lockpool's subtransport (stateful, as
    /// git:// is).
    static func create(
        _ out: UnsafeMutablePointer<UnsafeMutablePointer<git_transport>?>?, _ owner: OpaquePointer?,
        _ state: RemoteCallbackState
    ) -> Int32 {
        var definition = git_smart_subtransport_definition()
        definition.rpc = 0
        definition.param = Unmanaged.passUnretained(state).toOpaque()
        definition.callback = { out, _, param in
            let state = Unmanaged<RemoteCallbackState>.fromOpaque(param!).takeUnretainedValue()
            out?.pointee = SSHTransport.subtransport(state)
            return 0
        }
        return git_transport_smart(out, owner, &definition)
    }

    /// A subtransport whose `owner` is the call's state (retained until libgit2 frees it).
    private static func subtransport(_ state: RemoteCallbackState) -> UnsafeMutablePointer<git_smart_subtransport> {
        let sub = UnsafeMutablePointer<lockpool_ssh_subtransport>.allocate(capacity: 1)
        sub.initialize(to: lockpool_ssh_subtransport())
        sub.pointee.owner = Unmanaged.passRetained(Subtransport(state: state)).toOpaque()
        sub.pointee.parent.action = { out, transport, _, action in
            let owner = transport!.withMemoryRebound(to: lockpool_ssh_subtransport.self, capacity: 1) {
                Unmanaged<Subtransport>.fromOpaque($0.pointee.owner).takeUnretainedValue()
            }
            return owner.action(out, transport!, action)
        }
        sub.pointee.parent.close = { _ in 0 }
        sub.pointee.parent.free = { transport in
            transport!.withMemoryRebound(to: lockpool_ssh_subtransport.self, capacity: 1) {
                Unmanaged<Subtransport>.fromOpaque($0.pointee.owner).release()
                $0.deinitialize(count: 1)
                $0.deallocate()
            }
        }
        return UnsafeMutableRawPointer(sub).assumingMemoryBound(to: git_smart_subtransport.self)
    }

    /// The subtransport's state: the stream of the service libgit2 is using.
    private final class Subtransport {
        let state: RemoteCallbackState
        /// The stream of the current service; libgit2 asks for `UPLOADPACK` after `UPLOADPACK_LS` (and the same for
        /// receive-pack) on the same connection.
        var current: UnsafeMutablePointer<lockpool_ssh_stream>?

        init(state: RemoteCallbackState) { self.state = state }

        func action(
            _ out: UnsafeMutablePointer<UnsafeMutablePointer<git_smart_subtransport_stream>?>?,
            _ transport: UnsafeMutablePointer<git_smart_subtransport>, _ action: git_smart_service_t
        ) -> Int32 {
            guard let session = state.sshSession else { return -1 }
            let service: String
            switch action {
            case GIT_SERVICE_UPLOADPACK_LS: service = "git-upload-pack"
            case GIT_SERVICE_RECEIVEPACK_LS: service = "git-receive-pack"
            default:
                // UPLOADPACK or RECEIVEPACK: the stream the listing opened.
                guard let current else { return -1 }
                out?.pointee = UnsafeMutableRawPointer(current).assumingMemoryBound(
                    to: git_smart_subtransport_stream.self)
                return 0
            }
            do {
                let process = try session.start(service)
                let stream = Stream.make(Stream(process: process, session: session, state: state, subtransport: self))
                stream.pointee.parent.subtransport = transport
                current = stream
                out?.pointee = UnsafeMutableRawPointer(stream).assumingMemoryBound(
                    to: git_smart_subtransport_stream.self)
                return 0
            } catch {
                state.storedError = error
                git_error_set_str(Int32(GIT_ERROR_SSH.rawValue), "\(error)")
                return -1
            }
        }
    }

    /// One service's conversation: the child's standard output is read, its standard input written.
    private final class Stream {
        let process: SpawnedProcess
        let session: SSHSession
        let state: RemoteCallbackState
        weak var subtransport: Subtransport?
        var repair = ShallowRequestRepair()

        init(process: SpawnedProcess, session: SSHSession, state: RemoteCallbackState, subtransport: Subtransport) {
            self.process = process
            self.session = session
            self.state = state
            self.subtransport = subtransport
        }

        static func make(_ stream: Stream) -> UnsafeMutablePointer<lockpool_ssh_stream> {
            let raw = UnsafeMutablePointer<lockpool_ssh_stream>.allocate(capacity: 1)
            raw.initialize(to: lockpool_ssh_stream())
            raw.pointee.owner = Unmanaged.passRetained(stream).toOpaque()
            raw.pointee.parent.read = { stream, buffer, size, bytesRead in
                Stream.owner(stream).read(buffer, size, bytesRead)
            }
            raw.pointee.parent.write = { stream, buffer, length in
                Stream.owner(stream).write(buffer, length)
            }
            raw.pointee.parent.free = { stream in
                let owner = Stream.owner(stream)
                let raw = UnsafeMutableRawPointer(stream!).assumingMemoryBound(to: lockpool_ssh_stream.self)
                if owner.subtransport?.current == raw { owner.subtransport?.current = nil }
                owner.process.terminate()
                Unmanaged<Stream>.fromOpaque(raw.pointee.owner).release()
                raw.deinitialize(count: 1)
                raw.deallocate()
            }
            return raw
        }

        static func owner(_ stream: UnsafeMutablePointer<git_smart_subtransport_stream>?) -> Stream {
            UnsafeMutableRawPointer(stream!).withMemoryRebound(to: lockpool_ssh_stream.self, capacity: 1) {
                Unmanaged<Stream>.fromOpaque($0.pointee.owner).takeUnretainedValue()
            }
        }

        func read(_ buffer: UnsafeMutablePointer<CChar>?, _ size: Int, _ bytesRead: UnsafeMutablePointer<Int>?) -> Int32
        {
            var count: Int
            repeat { count = Glibc.read(process.output, buffer, size) } while count < 0 && errno == EINTR
            if count > 0 {
                bytesRead?.pointee = count
                return 0
            }
            return ended()
        }

        func write(_ buffer: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
            guard let buffer else { return 0 }
            let bytes = UnsafeRawBufferPointer(start: buffer, count: length)
            let plan = repair.plan(bytes, pipeliningDone: SocketWrites.isPipeliningDone)
            guard writeAll(UnsafeRawBufferPointer(rebasing: bytes[plan.skip...])) else { return ended() }
            if plan.appendsDone, !ShallowRequestRepair.done.withUnsafeBytes({ writeAll($0) }) { return ended() }
            return 0
        }

        /// Writes every byte to the child's input; false when it is gone. A pipe whose reader is gone raises
        /// SIGPIPE, which would end this process: the signal is blocked on this thread meanwhile, and one it raised is
        /// taken before it is unblocked.
        private func writeAll(_ bytes: UnsafeRawBufferPointer) -> Bool {
            var pipeSignal = sigset_t()
            sigemptyset(&pipeSignal)
            sigaddset(&pipeSignal, SIGPIPE)
            var saved = sigset_t()
            pthread_sigmask(SIG_BLOCK, &pipeSignal, &saved)
            defer {
                var pending = sigset_t()
                sigpending(&pending)
                if sigismember(&pending, SIGPIPE) == 1 && sigismember(&saved, SIGPIPE) == 0 {
                    var taken: Int32 = 0
                    sigwait(&pipeSignal, &taken)
                }
                pthread_sigmask(SIG_SETMASK, &saved, nil)
            }
            var offset = 0
            while offset < bytes.count {
                let count = Glibc.write(process.input, bytes.baseAddress! + offset, bytes.count - offset)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                offset += count
            }
            return true
        }

        /// The child closed its output or input: its failure, as libgit2 and `Remote` expect it.
        private func ended() -> Int32 {
            process.closeInput()
            process.collectErrors(block: true)
            process.wait()
            let failure = SSHFailure(process: process, session: session).error
            if let error = failure as? GitError, error.code == .endOfFile {
                // The server's words: libgit2's own ssh transport returns them the same way (GitError.serverMessage).
                git_error_set_str(error.errorClass.rawValue, error.message)
                return GIT_EEOF.rawValue
            }
            state.storedError = failure
            git_error_set_str(Int32(GIT_ERROR_SSH.rawValue), "\(failure)")
            return -1
        }
    }
}

/// libgit2 1.8.4 sends the `want` and `deepen` lines of a shallow request a second time on a connection that keeps
/// its state (git://, ssh), where git's upload-pack expects only `have` lines and `done`; the copy is left out, and
/// `done` may go with the first request (docs/decisions/0009-shallow-cache.md, `SocketWrites`).
struct ShallowRequestRepair {
    static let done = Array("0009done\n".utf8)
    private var sent: [UInt8]?
    private var pipelinedDone = false

    /// How many leading bytes of a write to leave out, and whether to send `done` after it.
    mutating func plan(_ bytes: UnsafeRawBufferPointer, pipeliningDone: Bool) -> (skip: Int, appendsDone: Bool) {
        if let request = sent {
            guard bytes.starts(with: request) else { return (0, false) }
            sent = nil
            var skip = request.count
            if pipelinedDone, bytes.dropFirst(skip).starts(with: Self.done) { skip += Self.done.count }
            return (skip, false)
        }
        guard SocketWrites.isShallowRequest(bytes) else { return (0, false) }
        sent = Array(bytes)
        pipelinedDone = pipeliningDone
        return (0, pipeliningDone)
    }
}
