import Gateway
import GatewayCore
import Glibc
import Reactor

let version = GatewayVersion.string

let usage = """
    mcp-gateway \(version): one MCP endpoint federating many MCP servers.

    Usage:
      mcp-gateway [serve]     start the gateway (default)
      mcp-gateway migrate     apply pending database migrations and exit
      mcp-gateway --version   print the version
      mcp-gateway --help      print this help

    Configuration comes from the environment (PORT, HOST, DB_HOST, DB_PORT, DB_USERNAME, DB_PASSWORD,
    DB_DATABASE or DATABASE_URL, REDIS_URL, API_KEY, NODE_ENV, SESSION_SECRET, ...): see docs/configuration.md.
    """

let arguments = Array(CommandLine.arguments.dropFirst())
let command = arguments.first ?? "serve"
switch command {
case "--help", "-h", "help":
    Console.out(usage)
    exit(0)
case "--version", "-V", "version":
    Console.out("mcp-gateway \(version)")
    exit(0)
case "serve", "migrate":
    if arguments.count > 1 {
        Console.error("mcp-gateway: unexpected argument \(arguments[1]); see mcp-gateway --help")
        exit(2)
    }
default:
    Console.error("mcp-gateway: unknown command \(command); see mcp-gateway --help")
    exit(2)
}

let config: Configuration
do {
    config = try Configuration.load(from: ProcessEnvironment.all())
} catch {
    Console.error("mcp-gateway: \(error)")
    exit(2)
}

_ = EventLoop.main  // the main thread becomes the loop thread
exit(Launcher.run(command: command, config: config))
