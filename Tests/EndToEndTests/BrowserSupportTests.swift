import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Checks the headless browser of TestSupport (`Browser`, `WebDriver`) against a tiny page served by Python's
/// `http.server` on 127.0.0.1, without the lockpool executables. Serialized: each chromium takes both cores for a
/// moment. A one-shot run throws when it leaves a process behind; the WebDriver test checks its processes are gone
/// after `stop()`. Skipped without `chromium` (and `chromedriver`) locally; under `CI=true` a missing browser fails.
@Suite(.serialized, .timeLimit(.minutes(2)), .enabled(if: StaticWebServer.isAvailable))
struct BrowserSupportTests {
    /// A page whose inline script adds an item at once and another 1 s after `load`, with `<script>` as text twice:
    /// escaped in the markup, and set by the script through `textContent`.
    static let page = """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>lockpool browser check</title></head>
        <body>
        <h1>lockpool browser check</h1>
        <p id="escaped">&lt;script&gt;window.__injected = 1&lt;/script&gt;</p>
        <p id="set-as-text"></p>
        <ul id="list"></ul>
        <script>
        document.getElementById("list").insertAdjacentHTML("beforeend", "<li id=\\"on-load\\">added on load</li>");
        document.getElementById("set-as-text").textContent = "<script>window.__injected = 2<\\/script>";
        window.addEventListener("load", function () {
            setTimeout(function () {
                var item = document.createElement("li");
                item.id = "late";
                item.textContent = "added 1 s after load";
                document.getElementById("list").appendChild(item);
            }, 1000);
        });
        </script>
        </body></html>
        """

    /// A page that opens an `EventSource` on `port`, where nothing ever answers.
    static func eventSourcePage(port: Int) -> String {
        """
        <!doctype html>
        <html><body><p id="state">static</p>
        <script>
        window.__events = new EventSource("http://127.0.0.1:\(port)/events");
        document.getElementById("state").textContent = "script ran, EventSource state " + window.__events.readyState;
        </script>
        </body></html>
        """
    }

    /// A page whose image comes from `port`, where nothing ever answers: its `load` event never fires.
    static func stalledImagePage(port: Int) -> String {
        """
        <!doctype html>
        <html><body><img src="http://127.0.0.1:\(port)/never.png"><p id="state">static</p>
        <script>
        document.getElementById("state").textContent = "script ran";
        window.addEventListener("load", function () { document.getElementById("state").textContent = "loaded"; });
        </script>
        </body></html>
        """
    }

    // MARK: Browser (one-shot chromium runs)

    @Test(.enabled(if: Browser.isAvailable))
    func dumpDOMShowsWhatTheLoadScriptAddedAndKeepsEscapedMarkupAsText() async throws {
        let scratch = try Scratch(label: "dump-dom")
        let server = try StaticWebServer(scratch: scratch, files: ["index.html": Self.page])
        defer { server.stop() }

        let dom = try await Browser.dumpDOM(server.url("/index.html"))
        #expect(dom.contains(#"<li id="on-load">added on load</li>"#), "\(dom)")
        #expect(dom.contains("<h1>lockpool browser check</h1>"), "\(dom)")
        // `<script>` in text is serialized escaped: it stays text, no element was made of it.
        #expect(dom.contains(#"<p id="escaped">&lt;script&gt;window.__injected = 1&lt;/script&gt;</p>"#), "\(dom)")
        #expect(dom.contains(#"<p id="set-as-text">&lt;script&gt;window.__injected = 2&lt;/script&gt;</p>"#), "\(dom)")
        #expect(!dom.contains("<script>window.__injected = 1"), "\(dom)")
        #expect(!dom.contains("<script>window.__injected = 2</script>"), "\(dom)")
    }

    @Test(.enabled(if: Browser.isAvailable))
    func dumpDOMReturnsAtLoadWhileAnEventSourceIsOpen() async throws {
        let scratch = try Scratch(label: "dump-dom-sse")
        let silent = try SilentListener()
        defer { silent.stop() }
        let server = try StaticWebServer(scratch: scratch, files: ["sse.html": Self.eventSourcePage(port: silent.port)])
        defer { server.stop() }

        let clock = ContinuousClock()
        var dom = ""
        let elapsed = try await clock.measure {
            dom = try await Browser.dumpDOM(server.url("/sse.html"), budget: .seconds(30))
        }
        #expect(dom.contains("script ran, EventSource state 0"), "\(dom)")
        // Dumped at `load`, not when the 30 s `--timeout` ran out (with --virtual-time-budget it would never return).
        #expect(elapsed < .seconds(20), "took \(elapsed)")
    }

    @Test(.enabled(if: Browser.isAvailable))
    func dumpDOMOfAPageThatNeverLoadsReturnsAfterItsBudget() async throws {
        let scratch = try Scratch(label: "dump-dom-stall")
        let silent = try SilentListener()
        defer { silent.stop() }
        let server = try StaticWebServer(
            scratch: scratch, files: ["stall.html": Self.stalledImagePage(port: silent.port)])
        defer { server.stop() }

        let clock = ContinuousClock()
        var dom = ""
        let elapsed = try await clock.measure {
            dom = try await Browser.dumpDOM(server.url("/stall.html"), budget: .seconds(2))
        }
        #expect(dom.contains(#"<p id="state">script ran</p>"#), "\(dom)")
        #expect(elapsed >= .seconds(2) && elapsed < .seconds(15), "took \(elapsed)")
    }

    @Test(.enabled(if: Browser.isAvailable))
    func screenshotWritesAPNGOfTheWindowSize() async throws {
        let scratch = try Scratch(label: "screenshot")
        let server = try StaticWebServer(scratch: scratch, files: ["index.html": Self.page])
        defer { server.stop() }

        let path = scratch.url("shot.png").path
        try await Browser.screenshot(server.url("/index.html"), to: path, width: 640, height: 480)
        let png = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        try Self.expectPNG(png, width: 640, height: 480)
    }

    // MARK: WebDriver (chromedriver)

    @Test(.enabled(if: WebDriver.isAvailable))
    func webDriverSeesTheDOMChangeAfterLoadWithoutAReload() async throws {
        let scratch = try Scratch(label: "webdriver")
        let server = try StaticWebServer(scratch: scratch, files: ["index.html": Self.page])
        defer { server.stop() }
        let driver = try await WebDriver.start()
        defer { driver.stop() }

        try await driver.newSession(width: 800, height: 600)
        try await driver.navigate(to: server.url("/index.html"))
        #expect(try await driver.pageSource().contains("added on load"))
        // A marker on the page's window: it survives only if the page is never reloaded.
        #expect(try await driver.executeScript("window.__marker = 42; return window.__marker;") == "42")

        let source = try await driver.waitUntil(timeout: .seconds(15)) { $0.contains(#"<li id="late">"#) }
        #expect(source.contains(#"<li id="late">added 1 s after load</li>"#), "\(source)")
        #expect(try await driver.executeScript("return window.__marker;") == "42")
        #expect(try await driver.executeScript("return typeof window.__injected;") == #""undefined""#)
        #expect(
            try await driver.executeScript(#"return document.getElementById("escaped").textContent;"#)
                == #""<script>window.__injected = 1</script>""#)
        #expect(
            try await driver.executeScript(
                #"return {items: document.querySelectorAll("li").length, title: document.title};"#)
                == #"{"items":2,"title":"lockpool browser check"}"#)

        try Self.expectPNG(try await driver.screenshotPNG(), width: 800, height: 600)

        let error = await #expect(throws: BrowserError.self) {
            try await driver.waitUntil(timeout: .milliseconds(300)) { $0.contains("never there") }
        }
        #expect(error?.description.contains("added 1 s after load") == true)

        // chromedriver, the session's chromium and its helpers; none of them once stopped.
        let running = driver.processes
        #expect(running.contains(driver.pid) && running.count >= 3, "\(running)")
        driver.stop()
        #expect(driver.processes.isEmpty, "\(driver.processes)")
    }

    // MARK: Helpers

    /// Checks the PNG signature and the size in the IHDR chunk.
    static func expectPNG(_ png: [UInt8], width: Int, height: Int) throws {
        try #require(png.count > 24, "\(png.count) bytes")
        #expect(Array(png[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(Array(png[12..<16]) == Array("IHDR".utf8))
        let bigEndian = { (range: Range<Int>) in png[range].reduce(0) { $0 << 8 | Int($1) } }
        #expect(bigEndian(16..<20) == width)
        #expect(bigEndian(20..<24) == height)
    }
}

/// A TCP port on 127.0.0.1 that accepts connections (into the kernel's backlog) and never answers: a request to it
/// stays pending, like an `EventSource` whose stream is open.
private final class SilentListener: Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        #if canImport(Glibc)
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr = in_addr(s_addr: UInt32(0x7f00_0001).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && listen(descriptor, 64) == 0
                    && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else {
            let code = errno
            close(descriptor)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Closes the listening socket (and with it the connections never accepted). Call it once.
    func stop() { close(descriptor) }
}
