//! The admin commands against a redis store: each command is its own process
//! (its own "host"), all counting on one redis-server started by the test.

use std::process::Command;

// The core's test servers: a port below the ephemeral range, retried when
// redis-server exits at start, stopped by pid.
#[path = "../../core/tests/support/redis.rs"]
#[allow(dead_code)]
mod redis_support;

use redis_support::{available, Server};

fn loginguard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_loginguard"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn admin_commands_work_against_a_redis_store() {
    if !available() {
        return;
    }
    let server = Server::start();
    let port = server.port;
    let dir = std::env::temp_dir().join(format!("loginguard-cli-redis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\ntimeout = \"2s\"\n"
        ),
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    let who = ["--account", "alice", "--ip", "203.0.113.7"];
    for n in 1..=4 {
        let (code, out, err) =
            loginguard(&[&["record-failure", "--policy", p][..], &who[..]].concat());
        assert_eq!(code, 0, "{err}");
        let want = if n < 4 {
            format!("allow failures={n}")
        } else {
            "challenge account failures=4".into()
        };
        assert_eq!(out.trim(), want);
    }
    let (code, out, err) =
        loginguard(&[&["inspect", "--policy", p, "--json"][..], &who[..]].concat());
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"]["action"], "challenge");
    assert_eq!(v["decision"]["degraded"], false);
    assert_eq!(v["dimensions"][0]["failures"], 4);

    let (code, out, _) = loginguard(&["stats", "--policy", p, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["capacity"], 0);
    assert_eq!(v["redis"]["errors"], 0);
    assert_eq!(v["redis"]["may_evict_counters"], false, "{v}");
    let (_, out, _) = loginguard(&["stats", "--policy", p]);
    assert!(out.contains("redis:"), "{out}");
    let (code, out, _) = loginguard(&["stats", "--policy", p, "--prometheus"]);
    assert_eq!(code, 0);
    for line in [
        "# TYPE loginguard_redis_round_trips counter",
        "loginguard_redis_errors_total 0",
        "loginguard_redis_circuit_open 0",
        "loginguard_redis_may_evict_counters 0",
    ] {
        assert!(out.lines().any(|l| l == line), "no {line:?} in\n{out}");
    }

    assert_eq!(loginguard(&["reset-account", "--policy", p, "alice"]).0, 0);
    let (_, out, _) = loginguard(&["inspect", "--policy", p, "--account", "alice"]);
    assert!(out.starts_with("decision: allow failures=0"), "{out}");
    let (_, out, _) = loginguard(&["inspect", "--policy", p, "--ip", "203.0.113.7"]);
    assert!(out.contains("failures     4"), "{out}");
    assert_eq!(loginguard(&["reset-ip", "--policy", p, "203.0.113.7"]).0, 0);
    let (_, out, _) = loginguard(&["inspect", "--policy", p, "--ip", "203.0.113.7"]);
    assert!(out.contains("failures     0"), "{out}");

    // A server that is gone: the admin command says so and fails.
    drop(server);
    let (code, _, err) = loginguard(&["reset-ip", "--policy", p, "203.0.113.7"]);
    assert_ne!(code, 0);
    assert!(err.contains("redis") || err.contains("store"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
