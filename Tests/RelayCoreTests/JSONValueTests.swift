import RelayCore
import Testing

@Suite("JSON values")
struct JSONValueTests {
    @Test("a number too large for a Double is refused, not read as infinity (a FuzzJSONEnvelope finding)")
    func hugeNumbers() throws {
        #expect(throws: JSONParseError.self) { try JSONValue.parse("7e" + String(repeating: "9", count: 100)) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse(#"{"poid":-1e400}"#) }
        #expect(try JSONValue.parse("1e308") == .double(1e308))
        #expect(try JSONValue.parse("99999999999999999999") == .double(1e20))
    }

    @Test("what the parser reads, the serializer writes back to the same value")
    func roundTrip() throws {
        for text in [
            #"{"a":[1,-2,3.5,true,false,null,"x\u0000y\n\"z\""],"b":{}}"#, #""caf\u00e9 \ud83c\udfd7""#, "-0.0", "[]",
        ] {
            let value = try JSONValue.parse(text)
            #expect(try JSONValue.parse(value.serialized) == value, "\(text)")
        }
    }
}
