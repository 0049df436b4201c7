import Dispatch
import LockPool

#if canImport(Glibc)
    import Glibc
#endif

extension Interruption {
    /// Handles SIGTERM and SIGINT: outside a push, `exitNow` runs at once (it prints and exits); during a push the
    /// signal is remembered, so that a won claim can be undone. Keep the returned sources alive while running.
    ///
    /// - Parameter exitNow: runs on a Dispatch queue when a signal arrives outside a push.
    /// - Returns: the Dispatch signal sources; cancel them when the operation is over.
    public func installSignalHandlers(exitNow: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                if signalReceived() == .exitNow { exitNow() }
            }
            source.resume()
            return source
        }
    }
}
