import FoundationEssentials
import StringSupport

/// One Pushgateway group: its grouping labels and its metrics in the text exposition format. A `PUT` replaces the
/// whole group, so everything that belongs to it travels in one request.
public struct MetricGroup: Sendable, Equatable {
    /// The grouping labels after the job, in path order (`pool`, `branch`, `operation`).
    public var labels: [Label]
    /// The metrics, text exposition format 0.0.4.
    public var body: [UInt8]

    /// A grouping label.
    public struct Label: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(labels: [Label], body: [UInt8]) {
        self.labels = labels
        self.body = body
    }

    /// The group's path below the gateway: `/metrics/job/<job>/<label>/<value>…`.
    ///
    /// A value that contains `/` or is empty is sent as `<label>@base64/<base64url>` (the Pushgateway's encoding; an
    /// empty value is `=`); other values are percent-encoded.
    public func path(job: String) -> String {
        var path = "/metrics/" + Self.segment("job", job)
        for label in labels { path += "/" + Self.segment(label.name, label.value) }
        return path
    }

    static func segment(_ name: String, _ value: String) -> String {
        if value.isEmpty { return "\(name)@base64/=" }
        if value.contains("/") {
            let base64 = Data(value.utf8).base64EncodedString()
                .replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
            return "\(name)@base64/\(base64)"
        }
        return "\(name)/\(value.percentEncoded(allowing: .unreserved))"
    }
}
