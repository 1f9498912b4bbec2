import Foundation
import RelayHarness
import Synchronization

/// Headless Chromium (Debian's `chromium`), driven over its DevTools protocol: a real browser for the
/// admin console's tests. It keeps cookies, follows redirects, submits forms and enforces the
/// Content-Security-Policy as any browser does; the test clicks with mouse events and types with
/// key input, and takes screenshots.
public final class Chromium: Sendable {
    /// Something the browser did not do.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private let process: ChildProcess
    private let folder: TemporaryDirectory
    private let socket: TestStreamClient
    private let counter = Counter()

    /// The Chromium binary, if installed (`CHROMIUM` names another).
    public static var executable: String? {
        if let path = ProcessInfo.processInfo.environment["CHROMIUM"], !path.isEmpty { return path }
        return Subprocess.find("chromium") ?? Subprocess.find("chromium-browser")
    }

    private init(process: ChildProcess, folder: TemporaryDirectory, socket: TestStreamClient) {
        self.process = process
        self.folder = folder
        self.socket = socket
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    /// Starts a headless browser with an empty profile and attaches to its page.
    public static func launch(width: Int = 1280, height: Int = 900) async throws -> Chromium {
        guard let executable else { throw Failure(description: "chromium is not installed (apt-get install chromium)") }
        let folder = try TemporaryDirectory()
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--remote-allow-origins=*",
            "--user-data-dir=\(folder.path("profile"))", "--window-size=\(width),\(height)", "about:blank",
        ]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        do {
            // Chromium writes its DevTools port (and the browser's path) once it listens.
            var port = 0
            try await poll(until: "chromium's DevToolsActivePort", timeout: .seconds(30), interval: .milliseconds(50)) {
                guard
                    let text = try? String(contentsOfFile: folder.path("profile/DevToolsActivePort"), encoding: .utf8),
                    let first = text.split(separator: "\n").first, let value = Int(first)
                else { return false }
                port = value
                return true
            }
            var pageURL: String?
            try await poll(until: "chromium's page target", timeout: .seconds(10), interval: .milliseconds(50)) {
                let list = try await TestHTTP.request("http://127.0.0.1:\(port)/json/list")
                let targets = try JSONSerialization.jsonObject(with: Data(list.body.utf8)) as? [[String: Any]] ?? []
                pageURL = targets.first { $0["type"] as? String == "page" }?["webSocketDebuggerUrl"] as? String
                return pageURL != nil
            }
            let socket = try await TestStreamClient.connect(url: pageURL!, maxFrameSize: 64 << 20)
            let browser = Chromium(process: process, folder: folder, socket: socket)
            _ = try await browser.send(
                "Emulation.setDeviceMetricsOverride",
                ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false])
            return browser
        } catch {
            process.terminate()
            folder.remove()
            throw error
        }
    }

    /// Sends one DevTools command and returns its result.
    @discardableResult
    public func send(_ method: String, _ params: [String: Any] = [:]) async throws -> [String: Any] {
        let id = counter.next()
        let message = try JSONSerialization.data(withJSONObject: ["id": id, "method": method, "params": params])
        socket.send(String(decoding: message, as: UTF8.self))
        while true {
            let text = try await socket.next(timeout: .seconds(30))
            guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                object["id"] as? Int == id
            else { continue }  // an event, or an answer to an earlier command
            if let error = object["error"] as? [String: Any] {
                throw Failure(description: "\(method): \(error["message"] ?? error)")
            }
            return object["result"] as? [String: Any] ?? [:]
        }
    }

    /// Evaluates JavaScript in the page and returns its value (JSON-compatible values only).
    public func evaluate(_ expression: String) async throws -> Any? {
        let result = try await send(
            "Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true])
        if let exception = result["exceptionDetails"] as? [String: Any] {
            throw Failure(description: "script failed: \(exception["text"] ?? exception)")
        }
        return (result["result"] as? [String: Any])?["value"]
    }

    /// Loads `url` and waits for the page (after any redirects).
    public func open(_ url: String) async throws {
        try await loading { _ = try await self.send("Page.navigate", ["url": url]) }
    }

    /// Clicks the element `selector` finds with the mouse (pressed and released at its centre) and,
    /// when `navigates`, waits for the page it leads to.
    public func click(_ selector: String, navigates: Bool = true) async throws {
        let json = try await evaluate(
            """
            (() => { const e = document.querySelector(\(Self.literal(selector))); if (!e) return null;
              e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();
              return JSON.stringify({x: r.left + r.width / 2, y: r.top + r.height / 2}); })()
            """)
        guard let json = json as? String,
            let point = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Double],
            let x = point["x"], let y = point["y"]
        else { throw Failure(description: "nothing to click at \(selector) on \(try await location())") }
        let press: () async throws -> Void = {
            for type in ["mousePressed", "mouseReleased"] {
                _ = try await self.send(
                    "Input.dispatchMouseEvent", ["type": type, "x": x, "y": y, "button": "left", "clickCount": 1])
            }
        }
        if navigates { try await loading(press) } else { try await press() }
    }

    /// Focuses the field `selector` finds and types `text` into it.
    public func type(_ selector: String, _ text: String) async throws {
        let found = try await evaluate(
            "(() => { const e = document.querySelector(\(Self.literal(selector))); if (!e) return false; e.focus(); e.select && e.select(); return true; })()"
        )
        guard found as? Bool == true else { throw Failure(description: "no field \(selector)") }
        _ = try await send("Input.insertText", ["text": text])
    }

    /// The page's visible text.
    public func text() async throws -> String {
        try await evaluate("document.body.innerText") as? String ?? ""
    }

    /// The page's address.
    public func location() async throws -> String {
        try await evaluate("location.href") as? String ?? ""
    }

    /// How many elements `selector` finds.
    public func count(_ selector: String) async throws -> Int {
        try await evaluate("document.querySelectorAll(\(Self.literal(selector))).length") as? Int ?? 0
    }

    /// A PNG of the whole page (not only the window) at `path`.
    public func screenshot(to path: String) async throws {
        let metrics = try await send("Page.getLayoutMetrics")
        let size = metrics["cssContentSize"] as? [String: Any] ?? [:]
        let width = (size["width"] as? Double) ?? 1280
        let height = min((size["height"] as? Double) ?? 900, 4000)
        let result = try await send(
            "Page.captureScreenshot",
            [
                "format": "png", "captureBeyondViewport": true,
                "clip": ["x": 0, "y": 0, "width": width, "height": height, "scale": 1],
            ])
        guard let data = (result["data"] as? String).flatMap({ Data(base64Encoded: $0) }) else {
            throw Failure(description: "no screenshot")
        }
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// Closes the browser and removes its profile.
    public func close() async {
        _ = try? await send("Browser.close")
        await socket.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        folder.remove()
    }

    /// Runs `action`, which leads to another page, and waits until that page has loaded: a marker set
    /// on the current document is gone and the new one is complete.
    private func loading(_ action: () async throws -> Void) async throws {
        _ = try await evaluate("window.__bimrelayOldPage = true")
        try await action()
        try await poll(until: "the next page to load", timeout: .seconds(20), interval: .milliseconds(20)) {
            // While the page changes the context may be gone for a moment: that is "not yet".
            let ready = try? await evaluate(
                "window.__bimrelayOldPage === undefined && document.readyState === 'complete'")
            return ready as? Bool == true
        }
    }

    /// `text` as a JavaScript string literal.
    private static func literal(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
}

/// Command ids.
private final class Counter: Sendable {
    private let value = Mutex(0)
    func next() -> Int {
        value.withLock {
            $0 += 1
            return $0
        }
    }
}
