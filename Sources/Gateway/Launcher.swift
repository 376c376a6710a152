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
            // One TLS context for every https downstream, made now: an unreadable or empty
            // DOWNSTREAM_CA_FILE is a configuration error, not a failure of the first register.
            do {
                try ReactorHTTPClient.shared.useTLS(caFile: config.downstreamCAFile)
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
