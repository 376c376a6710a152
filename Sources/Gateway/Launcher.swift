import Drivers
import GatewayCore
import Glibc
import Reactor

/// Runs a command on the loop and returns the process exit code.
public enum Launcher {
    public static func run(command: String, config: Configuration) -> Int32 {
        raiseFileLimit()
        let log = Log(level: config.logLevel, format: config.logFormat)
        nonisolated(unsafe) var status: Int32 = 0
        let env = ProcessEnvironment.all()
        if case .postgres = config.storage, let problem = LibPQ.load() {
            Console.error("mcp-gateway: configuration error: DATABASE_URL is PostgreSQL, but libpq cannot be loaded (apt-get install libpq5): \(problem)")
            return 2
        }
        LoopActor.assumeIsolated {
            if command == "migrate" {
                // Nothing else keeps the loop running while the embedded store works on its own
                // thread (libev returns from run() with no active watcher): this timer does.
                let hold = Timer {}
                hold.start(after: 86_400, repeating: 86_400)
                spawn {
                    status = await GatewayApp.migrate(config: config, log: log, env: env)
                    hold.stop()
                    EventLoop.main.stop()
                }
                return
            }
            // With DOWNSTREAM_CA_FILE, the TLS context is made now: an unreadable or empty file is
            // a configuration error, not a failure of the first register. Without it, the context
            // (system store only) is made for the first https downstream: a gateway that has none
            // does not initialize OpenSSL's TLS at all (about 4 MB of resident memory).
            do {
                if let caFile = config.downstreamCAFile { try ReactorHTTPClient.shared.useTLS(caFile: caFile) }
            } catch {
                Console.error("mcp-gateway: configuration error: DOWNSTREAM_CA_FILE \(error)")
                status = 2
                return
            }
            let app = GatewayApp(config: config, log: log, env: env)
            Launcher.keepAlive = app
            do {
                try app.start()
            } catch {
                Console.error("mcp-gateway: \(error)")
                status = 1
            }
        }
        if status != 0 { return status }
        EventLoop.main.run()
        return status
    }

    @LoopActor static var keepAlive: GatewayApp?

    static func raiseFileLimit() {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }
}
