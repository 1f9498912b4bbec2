import RelayCore
import Testing

@Suite("Control characters")
struct ControlCharactersTests {
    @Test("control characters become visible escapes; other text, accents and emoji included, is kept")
    func escaping() {
        #expect(ControlCharacters.escaped("plain text, café, 🏗️") == "plain text, café, 🏗️")
        #expect(ControlCharacters.escaped("a\nb\r\tc") == #"a\nb\r\tc"#)
        #expect(ControlCharacters.escaped("\u{1B}[31mred\u{7}") == #"\u{1B}[31mred\u{7}"#)
        #expect(ControlCharacters.escaped("x\u{0}y\u{7F}z\u{85}\u{2028}") == #"x\u{0}y\u{7F}z\u{85}\u{2028}"#)
    }
}
