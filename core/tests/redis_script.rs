//! The compare-and-set script on its own: a write replaces only the value it
//! read, sets the TTL with it, and a replay of the same write (same bytes:
//! every write carries a random nonce) is a success that changes nothing.

mod support;

use support::redis::{available, Server};

const SCRIPT: &str = include_str!("../src/store/redis/script.lua");

fn eval(server: &Server, keys: &[&str], args: &[&str]) -> String {
    let n = keys.len().to_string();
    let mut all = vec!["eval", SCRIPT, n.as_str()];
    all.extend_from_slice(keys);
    all.extend_from_slice(args);
    server.cli(&all).trim().to_string()
}

#[test]
fn compare_and_set_replays_and_conflicts() {
    if !available() {
        return;
    }
    let server = Server::start();
    let (k, idx) = ("t:{o}:account:1", "t:{o}:keys");
    // Absent → A.
    assert_eq!(eval(&server, &[k, idx], &["", "A", "60000", "60000"]), "1");
    // The same write again (a replay): success, nothing changes.
    assert_eq!(eval(&server, &[k, idx], &["", "A", "60000", "60000"]), "1");
    assert_eq!(server.cli(&["get", k]).trim(), "A");
    // A write that read something else: refused, the current value returned.
    assert_eq!(eval(&server, &[k, idx], &["", "B", "60000", "60000"]), "A");
    assert_eq!(eval(&server, &[k, idx], &["Z", "B", "60000", "60000"]), "A");
    // A → B, with its TTL in the same SET; the index holds the key and lives as long.
    assert_eq!(eval(&server, &[k, idx], &["A", "B", "5000", "90000"]), "1");
    assert_eq!(server.cli(&["get", k]).trim(), "B");
    let ttl: i64 = server.cli(&["pttl", k]).trim().parse().unwrap();
    assert!(ttl > 0 && ttl <= 5000, "{ttl}");
    let ttl: i64 = server.cli(&["pttl", idx]).trim().parse().unwrap();
    assert!(ttl > 60_000, "{ttl}");
    assert_eq!(server.cli(&["smembers", idx]).trim(), k);
    // B → deleted; a replay of the delete is a success too.
    assert_eq!(eval(&server, &[k, idx], &["B", "", "1", "1"]), "1");
    assert_eq!(eval(&server, &[k, idx], &["B", "", "1", "1"]), "1");
    assert_eq!(server.cli(&["exists", k]).trim(), "0");
}
