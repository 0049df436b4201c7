import FoundationEssentials
import LockPool
import StringSupport

/// Building HTML safely: every text from the repository goes through `escape` (docs/dashboard.md#safe-by-default).
public enum HTML {
    /// `text` with `&`, `<`, `>`, `"` and `'` replaced by entities, for element content and quoted attributes alike.
    public static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }

    /// A link to `url` around `text` when `url` is an http(s) URL; otherwise the text alone (a `javascript:` URL in a
    /// commit message must never become a link).
    static func link(_ text: String, url: String?) -> String {
        guard let url, let scheme = url.split(separator: ":").first?.lowercased(), scheme == "http" || scheme == "https"
        else { return escape(text) }
        return "<a href=\"\(escape(url))\">\(escape(text))</a>"
    }

    /// `date` as RFC 3339 UTC to the second, in a `<time>` element.
    static func time(_ date: Date) -> String {
        let text = HumanTime.timestamp(date)
        return "<time datetime=\"\(text)\">\(text)</time>"
    }

    /// `0.456` as `45.6%`, as `lockpool stats` writes it; `–` for none.
    static func percent(_ ratio: Double?) -> String { ratio.map(Decimals.percent) ?? "–" }

    /// A duration for people, to the second under a minute (`45s`, `12m`, `3h5m`, `2d4h`).
    static func duration(_ duration: Duration) -> String { HumanTime.rough(duration.timeInterval) }
}
