//! The conformance runner: replays a case of `conformance/` (see its README
//! for the format) on a guard whose policy's store section the caller sets.

use std::path::Path;
use std::sync::Arc;

use loginguard::{Attempt, Decision, Guard, ManualClock, Policy};

struct Args {
    account: Option<String>,
    ip: Option<String>,
    device: Option<String>,
    flags: Vec<String>,
}

fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).expect("bad %XX escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("escapes decode to UTF-8")
}

fn parse_args(words: &[&str]) -> Args {
    let mut args = Args {
        account: None,
        ip: None,
        device: None,
        flags: Vec::new(),
    };
    for w in words {
        match w.split_once('=') {
            Some(("account", v)) => args.account = Some(decode(v)),
            Some(("ip", v)) => args.ip = Some(decode(v)),
            Some(("device", v)) => args.device = Some(decode(v)),
            Some((k, _)) => panic!("unknown argument {k}"),
            None => args.flags.push((*w).to_string()),
        }
    }
    args
}

fn attempt(a: &Args) -> Attempt<'_> {
    let mut at = Attempt::new();
    if let Some(v) = &a.account {
        at = at.account(v);
    }
    if let Some(v) = &a.ip {
        at = at.ip(v);
    }
    if let Some(v) = &a.device {
        at = at.device(v.as_str());
    }
    at
}

fn render(result: Result<Decision, loginguard::Error>) -> String {
    match result {
        Err(e) => format!("error {}", e.kind()),
        Ok(d) => {
            let mut s = d.action.to_string();
            if let Some(r) = d.reason {
                s += &format!(" {r}");
            }
            if let Some(ms) = d.retry_after_ms {
                s += &format!(" retry={ms}");
            }
            s += &format!(" failures={}", d.failures);
            if d.degraded {
                s += " degraded";
            }
            s
        }
    }
}

/// Runs one case; `store` adjusts the case's policy (its store section) first.
pub fn run_case(path: &Path, store: &dyn Fn(&mut Policy)) -> Result<(), String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut policy_lines = Vec::new();
    let mut guard: Option<(Guard, Arc<ManualClock>)> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |msg: String| format!("{}:{}: {msg}\n    {line}", path.display(), n + 1);
        if let Some(rest) = line.strip_prefix("policy ") {
            assert!(guard.is_none(), "policy after the first step");
            policy_lines.push(rest.to_string());
            continue;
        }
        let (g, clock) = guard.get_or_insert_with(|| {
            let mut policy = Policy::from_toml(&policy_lines.join("\n")).expect("case policy");
            store(&mut policy);
            let clock = Arc::new(ManualClock::new());
            (Guard::with_clock(policy, clock.clone()).unwrap(), clock)
        });
        let (step, expect) = match line.split_once(" -> ") {
            Some((s, e)) => (s, Some(e.trim())),
            None => (line, None),
        };
        let mut words: Vec<&str> = step.split_whitespace().collect();
        let mut times = 1;
        if words[0] == "repeat" {
            times = words[1].parse::<usize>().unwrap();
            words.drain(..2);
        }
        let op = words[0];
        let mut got = None;
        for _ in 0..times {
            got = match op {
                "advance" => {
                    clock.advance_ms(words[1].parse().unwrap());
                    None
                }
                "reset_account" => {
                    g.reset_account(&decode(words[1])).unwrap();
                    None
                }
                "reset_ip" => {
                    g.reset_ip(decode(words[1]).as_str()).unwrap();
                    None
                }
                "check" | "begin" | "failure" | "success" => {
                    let args = parse_args(&words[1..]);
                    let a = attempt(&args);
                    let flag = |f: &str| args.flags.iter().any(|x| x == f);
                    Some(render(match op {
                        "check" => g.check(&a),
                        "begin" => g.begin(&a, flag("passed")),
                        "failure" => g.record_failure(&a),
                        _ => g.record_success(&a, flag("after_begin")).map(|()| {
                            Decision::allow(0) // successes have no decision; not compared
                        }),
                    }))
                }
                "concurrent" => {
                    let n: usize = words[1].parse().unwrap();
                    assert_eq!(words[2], "begin");
                    let args = parse_args(&words[3..]);
                    let passed = args.flags.iter().any(|x| x == "passed");
                    let through = std::sync::atomic::AtomicUsize::new(0);
                    let barrier = std::sync::Barrier::new(n);
                    std::thread::scope(|s| {
                        for _ in 0..n {
                            s.spawn(|| {
                                let a = attempt(&args);
                                barrier.wait();
                                let d = g.begin(&a, passed).unwrap();
                                if d.lets_password_be_checked(passed) {
                                    through.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                }
                            });
                        }
                    });
                    Some(format!("through {}", through.into_inner()))
                }
                other => return Err(at(format!("unknown step {other}"))),
            };
        }
        if let Some(expect) = expect {
            let got = got.ok_or_else(|| at("this step has no result to expect".into()))?;
            if got != expect {
                return Err(at(format!("expected `{expect}`, got `{got}`")));
            }
        }
    }
    Ok(())
}

/// Every case file, sorted.
pub fn cases() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "lgc"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 38, "conformance cases missing");
    paths
}

/// Fails with every failed case's message.
pub fn report(failures: Vec<String>, total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        total,
        failures.join("\n")
    );
}
