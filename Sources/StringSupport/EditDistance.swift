/// The Levenshtein distance of `a` and `b`, counted in Unicode scalars: how many insertions, deletions and
/// substitutions make one the other. Used for "did you mean" suggestions.
public func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.unicodeScalars)
    let b = Array(b.unicodeScalars)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
            current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

/// The candidate nearest to `word` by `editDistance`, and its distance; the first of equals wins; nil for no candidates.
public func closest(to word: String, among candidates: some Sequence<String>) -> (candidate: String, distance: Int)? {
    var best: (candidate: String, distance: Int)?
    for candidate in candidates {
        let distance = editDistance(word, candidate)
        if distance < best?.distance ?? .max { best = (candidate, distance) }
    }
    return best
}
