/// lockpool's release version, as the `Lock-Tool` trailer and `--version` show it.
public enum LockPoolVersion {
    public static let current = "0.1.0"
}
