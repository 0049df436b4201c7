/// A resource step failed before or outside the pool operation; the description is printed after `error: `.
public enum ResourceError: Error, Sendable, CustomStringConvertible {
    case invalidRequest(RequestProblems)
    case nameFile(String)
    case metadataFile(String)
    case claimRefFile(String)
    case destination(String)

    public var description: String {
        switch self {
        case .invalidRequest(let problems): problems.errors.last ?? "invalid payload"
        case .nameFile(let cause): "could not read the name file of your lock: \(cause)"
        case .metadataFile(let cause): "could not read the metadata file of your lock: \(cause)"
        case .claimRefFile(let cause): "could not read the claim_ref file of your lock: \(cause)"
        case .destination(let cause): "could not write the destination: \(cause)"
        }
    }
}
