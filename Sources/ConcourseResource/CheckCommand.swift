import Git
import LockPool

/// The `check` step: the commits that touch the pool, oldest first (docs/resource.md#the-check-step).
public enum CheckCommand {
    /// Runs `check` for `request` and returns its stdout.
    ///
    /// - Throws: `ResourceError` for a bad source, `LockPoolError` for repository failures.
    public static func run(_ request: CheckRequest, _ context: ResourceContext) async throws -> [UInt8] {
        let configuration = try context.configuration(for: request.source, readsBuild: false)
        let client = LockPoolClient(configuration: configuration)
        let printer = context.printer
        let versions = try await client.withFreshTip(
            clock: ContinuousClock(), events: printer.handle, logger: context.logger
        ) { cache, tip in
            let history = PoolHistory(repository: cache.repository, pool: configuration.pool)
            if let ref = request.version, let version = ObjectID(hex: ref), try history.isOnBranch(version, tip: tip) {
                return Array(try history.commitsTouchingPool(from: tip, downTo: version).map(\.id).reversed())
            }
            return try history.commitsTouchingPool(from: tip, limit: 1).map(\.id)
        }
        return ResourceOutput.versions(versions)
    }
}
