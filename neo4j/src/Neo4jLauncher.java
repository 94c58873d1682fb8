import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

/**
 * Runs an embedded Neo4j community DBMS with only the Bolt connector, for local development and
 * tests (no Docker, no Neo4j distribution: the jars come from Maven Central).
 *
 * Protocol with the parent process (scripts/lib/neo4j.ts):
 *  - stdout gets exactly one line "NEO4J_READY bolt://127.0.0.1:PORT" once Bolt accepts logins;
 *  - on a start-up failure, one line on stderr and a non-zero exit code;
 *  - EOF on stdin means the parent is gone or wants us to stop: shut down cleanly and exit, so
 *    a crashed parent never leaves a server holding the store lock.
 *
 * The password is read from --password-file or the NEO4J_LAUNCHER_PASSWORD environment variable,
 * never from the command line, where `ps` would show it to every user.
 */
public final class Neo4jLauncher {
    private static final String PASSWORD_ENV = "NEO4J_LAUNCHER_PASSWORD";
    private static final int EXIT_BAD_USAGE = 2;
    private static final int EXIT_START_FAILED = 1;

    private Neo4jLauncher() {}

    private static final class Options {
        Path home;
        int port = -1;
        long pageCacheMb = 256;
        Path passwordFile;
    }

    public static void main(String[] args) {
        Options options;
        String password;
        try {
            options = parseArgs(args);
            password = readPassword(options);
        } catch (IllegalArgumentException | IOException e) {
            fail(EXIT_BAD_USAGE, "neo4j launcher: " + e.getMessage());
            return;
        }

        DatabaseManagementService managementService;
        try {
            managementService = buildService(options);
        } catch (RuntimeException e) {
            fail(EXIT_START_FAILED, "neo4j launcher: start failed: " + rootMessage(e));
            return;
        }
        // Registered before anything else can fail, so SIGTERM/SIGINT always release the store lock.
        Runtime.getRuntime().addShutdownHook(new Thread(managementService::shutdown, "neo4j-shutdown"));

        try {
            setNeo4jPassword(managementService, password);
        } catch (RuntimeException e) {
            fail(EXIT_START_FAILED, "neo4j launcher: could not set the neo4j password: " + rootMessage(e));
            return;
        }

        System.out.println("NEO4J_READY bolt://127.0.0.1:" + options.port);
        System.out.flush();
        waitForStdinEof();
        // System.exit runs the shutdown hook, which is the single place that stops the DBMS.
        System.exit(0);
    }

    private static Options parseArgs(String[] args) {
        Options options = new Options();
        for (int i = 0; i < args.length; i++) {
            String name = args[i];
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("missing value after " + name);
            }
            String value = args[++i];
            switch (name) {
                case "--home" -> options.home = Path.of(value).toAbsolutePath();
                case "--port" -> options.port = parseNumber(name, value);
                case "--pagecache-mb" -> options.pageCacheMb = parseNumber(name, value);
                case "--password-file" -> options.passwordFile = Path.of(value);
                default -> throw new IllegalArgumentException("unknown option " + name);
            }
        }
        if (options.home == null) {
            throw new IllegalArgumentException("--home DIR is required");
        }
        if (options.port <= 0 || options.port > 65535) {
            throw new IllegalArgumentException("--port N (1..65535) is required");
        }
        if (options.pageCacheMb <= 0) {
            throw new IllegalArgumentException("--pagecache-mb must be positive");
        }
        return options;
    }

    private static int parseNumber(String name, String value) {
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " expects a number, got '" + value + "'");
        }
    }

    private static String readPassword(Options options) throws IOException {
        String password = options.passwordFile != null
                ? Files.readString(options.passwordFile, StandardCharsets.UTF_8).strip()
                : System.getenv(PASSWORD_ENV);
        if (password == null || password.isEmpty()) {
            throw new IllegalArgumentException("no password: pass --password-file FILE or set " + PASSWORD_ENV);
        }
        return password;
    }

    private static DatabaseManagementService buildService(Options options) {
        SocketAddress boltAddress = new SocketAddress("127.0.0.1", options.port);
        Map<org.neo4j.graphdb.config.Setting<?>, Object> settings = new HashMap<>();
        settings.put(BoltConnector.enabled, true);
        settings.put(BoltConnector.listen_address, boltAddress);
        settings.put(BoltConnector.advertised_address, boltAddress);
        // Loopback only, and the JS driver connects with plain bolt:// URIs.
        settings.put(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED);
        // Neo4j would otherwise size the page cache from the machine's RAM, far too much for a dev box.
        settings.put(GraphDatabaseSettings.pagecache_memory, options.pageCacheMb * 1024L * 1024L);
        settings.put(GraphDatabaseSettings.data_directory, options.home.resolve("data"));
        settings.put(GraphDatabaseSettings.logs_directory, options.home.resolve("logs"));
        settings.put(GraphDatabaseSettings.auth_enabled, true);
        settings.put(GraphDatabaseSettings.udc_enabled, false);
        // Bolt's defaults wait about 10 s for idle connections and Netty's quiet period on every
        // shutdown; a dev/test server that is stopped many times a day has nothing to drain.
        settings.put(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofSeconds(1));
        settings.put(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1));
        settings.put(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0);
        settings.put(GraphDatabaseInternalSettings.netty_server_shutdown_timeout, Duration.ofSeconds(2));
        return new DatabaseManagementServiceBuilder(options.home).setConfig(settings).build();
    }

    /**
     * A fresh store has neo4j/neo4j with "change required", which the application cannot use.
     * Setting it on every start makes the password file the single source of truth, even for a
     * store created earlier with another password. CREATE OR REPLACE rather than ALTER USER,
     * because ALTER refuses to "change" a password to its current value, which is every restart.
     */
    private static void setNeo4jPassword(DatabaseManagementService managementService, String password) {
        managementService
                .database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME)
                .executeTransactionally(
                        "CREATE OR REPLACE USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                        Map.of("password", password));
    }

    private static void waitForStdinEof() {
        InputStream stdin = System.in;
        byte[] buffer = new byte[256];
        try {
            while (stdin.read(buffer) != -1) {
                // Input carries no commands; only its end matters.
            }
        } catch (IOException e) {
            // A broken pipe means the parent is gone, same as EOF.
        }
    }

    private static String rootMessage(Throwable error) {
        Throwable cause = error;
        while (cause.getCause() != null && cause.getCause() != cause) {
            cause = cause.getCause();
        }
        String message = cause.getMessage() != null ? cause.getMessage() : cause.getClass().getName();
        if (cause != error && error.getMessage() != null && !error.getMessage().equals(message)) {
            message = error.getMessage() + ": " + message;
        }
        return message.replace('\n', ' ');
    }

    private static void fail(int exitCode, String reason) {
        System.err.println(reason);
        System.err.flush();
        System.exit(exitCode);
    }
}
