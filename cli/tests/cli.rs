//! The `loginguard` command as a user runs it.

use std::process::Command;

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

/// The "first challenge / deny / reset_required" column of one actor's row.
fn firsts(report: &str, actor: &str) -> String {
    let row = report
        .lines()
        .find(|l| l.starts_with(actor))
        .unwrap_or_else(|| panic!("no row {actor}:\n{report}"));
    row.rsplit("  ").next().unwrap().trim().to_string()
}

#[test]
fn simulate_reports_what_the_engine_decided() {
    let (code, out, err) = loginguard(&["simulate", "--minutes", "20", "--users", "300"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(firsts(&out, "brute force on one account"), "4 / 11 / -");
    assert_eq!(firsts(&out, "botnet spraying alice"), "4 / - / 101");
    assert_eq!(
        firsts(&out, "credential stuffing, one network"),
        "21 / 51 / -"
    );
    assert_eq!(firsts(&out, "alice, trusted device"), "- / - / -");
    assert!(out.contains("decisions/s"), "{out}");
    // The botnet story: [site] on takes far fewer accounts, and no trusted
    // device ever sees its CAPTCHA.
    let row = |name: &str| -> Vec<String> {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("| {name}")))
            .unwrap_or_else(|| panic!("no row {name}:\n{out}"));
        line.split('|').map(|c| c.trim().to_string()).collect()
    };
    let (off, on) = (row("[site] off"), row("[site] on (300/1m)"));
    let taken = |r: &[String]| r[2].parse::<u64>().unwrap();
    assert!(taken(&off) > 10 * taken(&on).max(1), "{out}");
    assert!(off[3].starts_with("0 of "), "{out}");
    assert!(
        on[6].starts_with("10."),
        "detected in the attack's first minute: {out}"
    );
    assert!(on[5].starts_with("0 of "), "{out}");
    assert!(off[4].starts_with("0 of "), "{out}");
}

#[test]
fn stats_and_inspect_show_the_site_wide_signal() {
    let dir = std::env::temp_dir().join(format!("loginguard-cli-site-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.toml");
    let store = dir.join("counters.store");
    std::fs::write(
        &policy,
        format!(
            "[site]\nchallenge_when = \"3/1m\"\n[store]\nkind = \"shared\"\npath = {store:?}\ncapacity = 1024\n"
        ),
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    for i in 0..4 {
        let account = format!("user{i}");
        let ip = format!("192.0.{i}.1");
        let args = [
            "record-failure",
            "--policy",
            p,
            "--account",
            &account,
            "--ip",
            &ip,
        ];
        let (code, out, err) = loginguard(&args);
        assert_eq!(code, 0, "{err}");
        let want = if i < 3 {
            "allow failures=1"
        } else {
            "challenge site failures=4"
        };
        assert_eq!(out.trim(), want);
    }
    let (_, out, _) = loginguard(&["stats", "--policy", p, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["site"]["active"], true, "{out}");
    assert_eq!(v["site"]["rate"], 4);
    assert_eq!(v["site"]["trigger"], 3);
    let (_, out, _) = loginguard(&["inspect", "--policy", p, "--account", "zoe"]);
    assert!(
        out.starts_with("decision: challenge site failures=4"),
        "{out}"
    );
    assert!(out.contains("site        attack"), "{out}");
    let (_, out, _) = loginguard(&["stats", "--policy", p, "--prometheus"]);
    for line in [
        "loginguard_site_attack 1",
        "loginguard_site_failures 4",
        "loginguard_site_trigger_failures 3",
    ] {
        assert!(out.lines().any(|l| l == line), "no {line:?} in\n{out}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_policy_file_moves_the_first_challenge() {
    let dir = std::env::temp_dir().join(format!("loginguard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("policy.toml");
    std::fs::write(&path, "[account]\nchallenge_after = 5\n").unwrap();
    let (code, out, err) = loginguard(&[
        "simulate",
        "--minutes",
        "20",
        "--policy",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(firsts(&out, "brute force on one account"), "6 / 11 / -");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("loginguard-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("policy.toml");
    std::fs::write(&path, "[ip]\nlock_for = \"15\"\n").unwrap();
    let (code, _, err) = loginguard(&["check-policy", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("ip.lock_for"), "{err}");
    let (code, _, err) = loginguard(&["simulate", "--minutes", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("--minutes"), "{err}");
    let (code, _, err) = loginguard(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(err.contains("usage"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn processes_share_counters_through_a_shared_store() {
    let dir = std::env::temp_dir().join(format!("loginguard-cli-shared-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.toml");
    let store = dir.join("counters.store");
    std::fs::write(
        &policy,
        format!(
            "[store]\nkind = \"shared\"\npath = {:?}\ncapacity = 4096\n",
            store
        ),
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    // Each command is its own process; the fourth failure challenges.
    let fail = || {
        loginguard(&[
            "record-failure",
            "--policy",
            p,
            "--account",
            "alice",
            "--ip",
            "203.0.113.7",
        ])
    };
    for n in 1..=3 {
        let (code, out, err) = fail();
        assert_eq!(
            (code, out.trim()),
            (0, format!("allow failures={n}").as_str()),
            "{err}"
        );
    }
    assert_eq!(fail().1.trim(), "challenge account failures=4");

    let (code, out, _) = loginguard(&[
        "inspect",
        "--policy",
        p,
        "--account",
        "alice",
        "--ip",
        "203.0.113.7",
        "--json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"]["action"], "challenge");
    assert_eq!(v["dimensions"][0]["dimension"], "account");
    assert_eq!(v["dimensions"][0]["failures"], 4);
    assert_eq!(v["dimensions"][2]["dimension"], "ip");

    let (_, out, _) = loginguard(&["stats", "--policy", p, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["occupancy"], 4); // account, account_ip, ip, ip_range
    assert!(v["site"].is_null()); // no [site] in the policy
    assert_eq!(v["decisions"]["allow"], 3);
    assert_eq!(v["decisions"]["challenge"], 1);

    let (code, out, _) = loginguard(&["reset-account", "--policy", p, "alice"]);
    assert_eq!(code, 0, "{out}");
    let (_, out, _) = loginguard(&["inspect", "--policy", p, "--account", "alice"]);
    assert!(out.starts_with("decision: allow failures=0"), "{out}");
    let (_, out, _) = loginguard(&["inspect", "--policy", p, "--ip", "203.0.113.7"]);
    assert!(out.contains("failures     4"), "{out}");
    assert_eq!(loginguard(&["reset-ip", "--policy", p, "203.0.113.7"]).0, 0);
    let (_, out, _) = loginguard(&["inspect", "--policy", p, "--ip", "203.0.113.7"]);
    assert!(out.contains("failures     0"), "{out}");

    // A memory store outlives no command: a clear error.
    let memory = dir.join("memory.toml");
    std::fs::write(&memory, "").unwrap();
    let (code, _, err) = loginguard(&["stats", "--policy", memory.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("shared") && err.contains("redis"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stats_in_the_prometheus_exposition_format() {
    let dir = std::env::temp_dir().join(format!("loginguard-cli-prom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.toml");
    let store = dir.join("counters.store");
    std::fs::write(
        &policy,
        format!("[store]\nkind = \"shared\"\npath = {store:?}\ncapacity = 1024\n"),
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    for _ in 0..4 {
        loginguard(&["record-failure", "--policy", p, "--account", "alice"]);
    }
    let (code, out, err) = loginguard(&["stats", "--policy", p, "--prometheus"]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "# TYPE loginguard_decisions counter",
        "loginguard_decisions_total{action=\"allow\"} 3",
        "loginguard_decisions_total{action=\"challenge\"} 1",
        "loginguard_decisions_total{action=\"deny\"} 0",
        "loginguard_tracked_keys 1",
        "loginguard_capacity_keys 1024",
        "loginguard_evictions_total 0",
        "loginguard_refused_inserts_total 0",
        "# UNIT loginguard_memory_bytes bytes",
    ] {
        assert!(out.lines().any(|l| l == line), "no {line:?} in\n{out}");
    }
    assert!(out.ends_with("# EOF\n"), "{out}");
    assert!(!out.contains("loginguard_redis_"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}
