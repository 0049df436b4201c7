import Foundation
import TestSupport
import Testing

@testable import ConcourseResource

/// Not TestSupport's builder of the same name.
private typealias JSONValue = ConcourseResource.JSONValue

/// `JSONValue` is the one JSON reader and writer of the sources: requests, `--source` files, Concourse API answers.
@Suite struct JSONValueTests {
    /// Whatever parses is written back as one line of JSON that parses to the same value.
    @Test(arguments: fuzzCorpus("request-decoder") + ["exotic"])
    func writtenJSONParsesBack(_ path: String) throws {
        let inputs =
            path == "exotic"
            ? [
                #"{"a":[1,-2.5e3,true,false,null,{}],"b":"\"\\\/\b\f\n\r\t\u0001\u001f\u007f é🔒"}"#,
                #"{"dup":1,"dup":2}"#, #"[]"#, #""text""#, "0", #"{"":{"":[[]]}}"#,
            ].map { Array($0.utf8) } : [Array(try Data(contentsOf: URL(fileURLWithPath: path)))]
        for input in inputs {
            guard let value = JSONValue.parse(input) else { continue }
            let written = Array(value.json.utf8)
            #expect(JSONValue.parse(written) == value, "\(value.json)")
            #expect(!value.json.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
            // Foundation reads it whenever it reads the input (it refuses numbers past Double's range).
            func foundationReads(_ bytes: [UInt8]) -> Bool {
                (try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)) != nil
            }
            #expect(!foundationReads(input) || foundationReads(written), "\(value.json)")
        }
    }

    @Test func lookupAndSetting() throws {
        let value = try #require(JSONValue.parse(Array(#"{"a":"1","b":{"c":"2"},"a":"3"}"#.utf8)))
        #expect(value["a"]?.text == "3")  // the last of a repeated key
        #expect(value["b"]?["c"]?.text == "2")
        #expect(value["missing"] == nil && value["b"]?.text == nil && JSONValue.string("x")["a"] == nil)
        let set = value.setting("a", to: .bool(true)).setting("d", to: .number("4"))
        #expect(set.json == #"{"b":{"c":"2"},"a":true,"d":4}"#)
        #expect(JSONValue.array([]).setting("a", to: .null) == .array([]))
    }

    @Test(arguments: [[0xFF], [], Array("{".utf8), Array("{} {}".utf8), Array("[1,]".utf8)])
    func invalidInputIsNil(_ input: [UInt8]) {
        #expect(JSONValue.parse(input) == nil)
    }
}
