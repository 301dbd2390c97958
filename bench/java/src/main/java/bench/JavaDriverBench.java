package bench;

import java.util.List;
import org.neo4j.driver.AuthTokens;
import org.neo4j.driver.Driver;
import org.neo4j.driver.GraphDatabase;
import org.neo4j.driver.Record;
import org.neo4j.driver.Result;
import org.neo4j.driver.Session;
import org.neo4j.driver.SessionConfig;

/**
 * Streams queries with the official Java driver and counts the records, the
 * reference our Bolt client and neo4j-backup are measured against.
 *
 *   JavaDriverBench URI USER PASSWORD stream QUERY
 *   JavaDriverBench URI USER PASSWORD readall
 *
 * "readall" runs the two queries a logical backup needs (every node with its
 * labels and properties, then every relationship) and nothing else.
 * Prints "rows=N seconds=S" on stdout.
 */
public final class JavaDriverBench {
    private static final String NODES_QUERY = "MATCH (n) RETURN id(n), labels(n), properties(n)";
    private static final String RELS_QUERY =
            "MATCH (a)-[r]->(b) RETURN id(r), id(a), id(b), type(r), properties(r)";

    private JavaDriverBench() {}

    private static long drain(Session session, String query) {
        long rows = 0;
        Result result = session.run(query);
        while (result.hasNext()) {
            Record record = result.next();
            // Touch the first value so nothing is left lazily undecoded.
            if (!record.get(0).isNull()) {
                rows++;
            }
        }
        return rows;
    }

    public static void main(String[] args) {
        if (args.length < 4) {
            System.err.println("usage: JavaDriverBench URI USER PASSWORD stream QUERY | readall");
            System.exit(2);
        }
        List<String> queries = args[3].equals("readall") ? List.of(NODES_QUERY, RELS_QUERY) : List.of(args[4]);
        long started = System.nanoTime();
        long rows = 0;
        try (Driver driver = GraphDatabase.driver(args[0], AuthTokens.basic(args[1], args[2]));
             Session session = driver.session(SessionConfig.forDatabase("neo4j"))) {
            for (String query : queries) {
                rows += drain(session, query);
            }
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        System.out.printf("rows=%d seconds=%.3f%n", rows, seconds);
    }
}
