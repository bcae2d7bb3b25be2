//! Several processes standing in for hosts on one Redis and one key: the test
//! binary runs itself again as 4 children (`LOGINGUARD_REDIS_CHILD` names the
//! role), each with its own `Guard`, its own connections and a manual clock
//! frozen at the same instant (`clock = "host"`). The children start together
//! (the parent releases them through their stdin) and report what they saw on
//! stdout; the parent checks the sum of it.

mod support;

use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use loginguard::{Action, Attempt, EventKind, Guard, ManualClock, Policy, Reason};
use support::redis::{available, on_redis, Server};

const CHILDREN: usize = 4;
const FAILURES_POLICY: &str = "[account]\nchallenge_after = 30\nreset_after = 70\n\
    [account_ip]\nlock_after = 50\n[ip]\nlock_after = false\nchallenge_after = false";

const SITE_POLICY: &str = "[site]\nchallenge_when = \"50/1m\"";

fn guard(url: &str, prefix: &str, toml: &str) -> Guard {
    let mut policy = Policy::from_toml(toml).unwrap();
    on_redis(&mut policy, url, prefix);
    // Every process's clock stands at 0: one frozen instant for all of them.
    Guard::with_clock(policy, Arc::new(ManualClock::new())).unwrap()
}

/// Runs in a child process: does what `LOGINGUARD_REDIS_CHILD` says, prints results.
#[test]
fn child_main() {
    let Ok(role) = std::env::var("LOGINGUARD_REDIS_CHILD") else {
        return;
    };
    let url = std::env::var("LOGINGUARD_REDIS_URL").unwrap();
    let n: usize = std::env::var("LOGINGUARD_N").unwrap().parse().unwrap();
    let toml = match role.as_str() {
        "failures" => FAILURES_POLICY,
        "site" => SITE_POLICY,
        _ => "",
    };
    let g = guard(&url, &role, toml);
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = events.clone();
    g.set_listener(move |e| {
        if matches!(
            e.kind,
            EventKind::Challenge
                | EventKind::Lock
                | EventKind::ResetRequired
                | EventKind::SiteAttackStarted
        ) {
            sink.lock()
                .unwrap()
                .push(format!("{:?}-{:?}", e.kind, e.dimension));
        }
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready 1").unwrap();
    out.flush().unwrap();
    // Wait for the parent's go (a line on stdin), so all children race.
    let mut go = String::new();
    std::io::stdin().lock().read_line(&mut go).unwrap();
    let a = Attempt::new().account("alice").ip("203.0.113.7");
    match role.as_str() {
        "failures" => {
            for _ in 0..n {
                let d = g.record_failure(&a).unwrap();
                assert!(!d.degraded, "{d}");
                writeln!(out, "failures {}", d.failures).unwrap();
            }
        }
        "begin" => {
            let mut through = 0;
            for _ in 0..n {
                let d = g.begin(&a, true).unwrap();
                assert!(!d.degraded, "{d}");
                through += usize::from(d.lets_password_be_checked(true));
            }
            writeln!(out, "through {through}").unwrap();
        }
        "site" => {
            // Failures on keys of this process's own: only the site-wide
            // window is shared.
            let me = std::process::id();
            for i in 0..n {
                let account = format!("user{me}-{i}");
                let ip = format!("10.{}.{}.1", me % 250, i % 250);
                let d = g
                    .record_failure(&Attempt::new().account(&account).ip(&ip))
                    .unwrap();
                assert!(!d.degraded, "{d}");
            }
        }
        other => panic!("unknown role {other}"),
    }
    for e in events.lock().unwrap().iter() {
        writeln!(out, "event {e}").unwrap();
    }
    let r = g.stats().redis.expect("redis stats");
    writeln!(out, "errors {}", r.errors).unwrap();
}

/// Starts the children, lets them go together, and returns their result
/// lines (`key value`) once each has exited successfully.
fn run_children(server: &Server, role: &str, n: usize) -> Vec<(String, String)> {
    let mut children: Vec<(Child, std::io::BufReader<std::process::ChildStdout>)> = (0..CHILDREN)
        .map(|_| {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "child_main",
                    "--nocapture",
                    "--test-threads=1",
                    "-q",
                ])
                .env("LOGINGUARD_REDIS_CHILD", role)
                .env("LOGINGUARD_REDIS_URL", server.url())
                .env("LOGINGUARD_N", n.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let out = std::io::BufReader::new(child.stdout.take().unwrap());
            (child, out)
        })
        .collect();
    // Every child has opened its guard (and connected) before any starts.
    for (_, out) in &mut children {
        let mut line = String::new();
        while !line.starts_with("ready") {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
        }
    }
    for (child, _) in &mut children {
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    }
    let mut lines = Vec::new();
    for (mut child, out) in children {
        let rest: Vec<String> = out.lines().map(Result::unwrap).collect();
        let status = child.wait().unwrap();
        assert!(status.success(), "child failed: {rest:?}");
        lines.extend(rest.iter().filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.to_string()))
        }));
    }
    lines
}

#[test]
fn processes_on_one_key_count_every_failure_exactly_once() {
    if !available() {
        return;
    }
    let server = Server::start();
    const PER_CHILD: usize = 25;
    let lines = run_children(&server, "failures", PER_CHILD);
    let n = (CHILDREN * PER_CHILD) as u32;
    let mut seen: Vec<u32> = lines
        .iter()
        .filter(|(k, _)| k == "failures")
        .map(|(_, v)| v.parse().unwrap())
        .collect();
    seen.sort_unstable();
    // account and account_ip move in step: every decision's `failures` is
    // the count its own update left; no duplicates, no gaps.
    assert_eq!(seen, (1..=n).collect::<Vec<_>>(), "failures 1..={n}");
    let mut events: Vec<&str> = lines
        .iter()
        .filter(|(k, _)| k == "event")
        .map(|(_, v)| v.as_str())
        .collect();
    events.sort_unstable();
    // Each threshold crossed by exactly one call in one process.
    assert_eq!(
        events,
        [
            "Challenge-Some(Account)",
            "Lock-Some(AccountIp)",
            "ResetRequired-Some(Account)"
        ],
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|(k, v)| k != "errors" || v == "0"),
        "{lines:?}"
    );
    let g = guard(&server.url(), "failures", FAILURES_POLICY);
    let d = g
        .inspect(&Attempt::new().account("alice").ip("203.0.113.7"))
        .unwrap()
        .decision;
    assert_eq!(
        (d.action, d.reason, d.failures),
        (Action::ResetRequired, Some(Reason::Account), n)
    );
}

#[test]
fn processes_begin_with_a_passed_captcha_lets_exactly_lock_after_plus_one_through() {
    if !available() {
        return;
    }
    let server = Server::start();
    // account_ip locks after 10 failures (the default policy), each `begin`
    // that lets the password be checked counts one in advance.
    let lines = run_children(&server, "begin", 20);
    let through: u32 = lines
        .iter()
        .filter(|(k, _)| k == "through")
        .map(|(_, v)| v.parse::<u32>().unwrap())
        .sum();
    assert_eq!(through, 11, "{lines:?}");
    let g = guard(&server.url(), "begin", "");
    let a = Attempt::new().account("alice").ip("203.0.113.7");
    let i = g.inspect(&a).unwrap();
    let account_ip = i
        .dimensions
        .iter()
        .find(|d| d.dimension == loginguard::Dimension::AccountIp)
        .unwrap();
    assert_eq!(account_ip.failures, 11, "every begin let through counted");
    assert_eq!(g.check(&a).unwrap().action, Action::Deny);
}

#[test]
fn processes_share_one_site_window_and_one_start() {
    if !available() {
        return;
    }
    let server = Server::start();
    const PER_CHILD: usize = 25;
    let lines = run_children(&server, "site", PER_CHILD);
    let started = lines
        .iter()
        .filter(|(k, v)| k == "event" && v.starts_with("SiteAttackStarted"))
        .count();
    assert_eq!(started, 1, "{lines:?}");
    assert!(
        lines.iter().all(|(k, v)| k != "errors" || v == "0"),
        "{lines:?}"
    );
    let g = guard(&server.url(), "site", SITE_POLICY);
    let s = g.site_state().unwrap();
    assert_eq!((s.rate, s.active), ((CHILDREN * PER_CHILD) as u64, true));
}
