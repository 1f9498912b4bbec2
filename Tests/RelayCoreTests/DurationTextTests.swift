import RelayCore
import Testing

@Suite("Durations as people type them")
struct DurationTextTests {
    @Test(
        "each unit suffix is read",
        arguments: [
            ("250ms", Duration.milliseconds(250)), ("5s", .seconds(5)), ("5m", .seconds(300)),
            ("2h", .seconds(7200)), ("7d", .seconds(604_800)), ("1.5s", .milliseconds(1500)), (" 3S ", .seconds(3)),
        ])
    func readsUnits(text: String, expected: Duration) throws {
        #expect(try DurationText.parse(text) == expected)
    }

    @Test("a bare number, a negative or an unknown unit is refused", arguments: ["5", "-1s", "5y", "", "s", "1e400s"])
    func refusesMalformed(text: String) {
        #expect(throws: RelayError.self) { try DurationText.parse(text) }
    }

    @Test("formatting picks the largest exact unit and reads back")
    func formatsRoundTrip() throws {
        #expect(DurationText.format(.seconds(300)) == "5m")
        #expect(DurationText.format(.seconds(90)) == "90s")
        #expect(DurationText.format(.milliseconds(1500)) == "1500ms")
        #expect(DurationText.format(.seconds(86_400)) == "1d")
        let list = try DurationText.parseList("1s,5m,2h")
        #expect(DurationText.formatList(list) == "1s,5m,2h")
    }

    @Test("a list with an empty element is refused")
    func refusesEmptyElement() {
        #expect(throws: RelayError.self) { try DurationText.parseList("1s,,2s") }
    }
}
