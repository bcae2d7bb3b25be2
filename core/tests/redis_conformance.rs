//! Every conformance case replayed on a redis store (`clock = "host"`, a
//! manual clock), each case under its own key prefix on one server.

mod support;

use loginguard::Policy;
use support::conformance::{cases, report, run_case};
use support::redis::{available, on_redis, Server};

#[test]
fn every_conformance_case_passes_on_redis() {
    if !available() {
        return;
    }
    let server = Server::start();
    // The site-wide cases included: the window lives in one key per prefix.
    let paths = cases();
    assert!(paths.len() >= 59, "{} cases", paths.len());
    let failures = paths
        .iter()
        .enumerate()
        .filter_map(|(n, p)| {
            let prefix = format!("case{n}");
            run_case(p, &|policy: &mut Policy| {
                on_redis(policy, &server.url(), &prefix)
            })
            .err()
        })
        .collect();
    report(failures, paths.len());
    // Every key the cases left has a TTL (the meta keys included).
    for key in server.keys("case*") {
        let ttl: i64 = server.cli(&["pttl", &key]).trim().parse().unwrap();
        assert!(ttl > 0, "{key} has PTTL {ttl}");
    }
}
