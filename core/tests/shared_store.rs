//! The `shared` store: one table for every process on the host, exact across
//! processes, unharmed by processes killed or stopped mid-update, and strict
//! about files it did not write.
//!
//! Child processes are this test binary run again with `LOGINGUARD_CHILD` set.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::Arc;

use support::shared;

use loginguard::{Action, Attempt, ErrorKind, EventKind, Guard, Policy};

const CAPACITY: usize = 1 << 14;
const STORM_KEYS: usize = 1000; // few enough that no bucket of the table overflows

fn policy(path: &Path) -> Policy {
    shared::policy(path, CAPACITY)
}

fn temp_store(name: &str) -> PathBuf {
    shared::temp_store("shared", name)
}

/// Runs in a child process: does what `LOGINGUARD_CHILD` says, prints results.
#[test]
fn child_main() {
    let Ok(role) = std::env::var("LOGINGUARD_CHILD") else {
        return;
    };
    let path = PathBuf::from(std::env::var("LOGINGUARD_STORE").unwrap());
    let n: usize = std::env::var("LOGINGUARD_N").unwrap().parse().unwrap();
    let guard = Guard::new(policy(&path)).unwrap();
    let crossings = Arc::new(AtomicU32::new(0));
    let c = crossings.clone();
    guard.set_listener(move |e| {
        if matches!(
            e.kind,
            EventKind::Challenge | EventKind::ResetRequired | EventKind::Lock
        ) {
            c.fetch_add(1, SeqCst);
        }
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "started").unwrap();
    out.flush().unwrap();
    match role.as_str() {
        "failures" => {
            for _ in 0..n {
                let d = guard
                    .record_failure(&Attempt::new().account("shared-alice"))
                    .unwrap();
                writeln!(out, "failures {}", d.failures).unwrap();
            }
        }
        "begin" => {
            let mut through = 0;
            for _ in 0..n {
                let a = Attempt::new().account("shared-bob").ip("203.0.113.9");
                through += usize::from(
                    guard
                        .begin(&a, true)
                        .unwrap()
                        .lets_password_be_checked(true),
                );
            }
            writeln!(out, "through {through}").unwrap();
        }
        "storm" => {
            for i in 0..n {
                let account = format!("storm{}", i % STORM_KEYS);
                guard
                    .record_failure(&Attempt::new().account(&account))
                    .unwrap();
                if i % 1000 == 0 {
                    writeln!(out, "progress {i}").unwrap();
                    out.flush().unwrap();
                }
            }
            writeln!(out, "done {n}").unwrap();
        }
        other => panic!("unknown role {other}"),
    }
    writeln!(out, "crossings {}", crossings.load(SeqCst)).unwrap();
}

fn spawn(role: &str, path: &Path, n: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_main",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env("LOGINGUARD_CHILD", role)
        .env("LOGINGUARD_STORE", path)
        .env("LOGINGUARD_N", n.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The child's result lines (`key value`), after it exits successfully.
fn results(child: Child) -> Vec<(String, u64)> {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "child failed: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

#[test]
fn processes_count_exactly_on_one_key() {
    let path = temp_store("exact");
    Guard::new(policy(&path)).unwrap(); // create the store before the race
    let per_child = 150;
    let children: Vec<Child> = (0..4)
        .map(|_| spawn("failures", &path, per_child))
        .collect();
    let mut seen = Vec::new();
    let mut crossings = 0;
    for child in children {
        for (k, v) in results(child) {
            match k.as_str() {
                "failures" => seen.push(v),
                "crossings" => crossings += v,
                _ => {}
            }
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=4 * per_child as u64).collect::<Vec<_>>());
    // challenge_after (3) and reset_after (100) were each crossed by exactly one call
    assert_eq!(crossings, 2);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn processes_let_at_most_lock_after_plus_one_through() {
    let path = temp_store("begin");
    let children: Vec<Child> = (0..4).map(|_| spawn("begin", &path, 20)).collect();
    let through: u64 = children
        .into_iter()
        .flat_map(results)
        .filter(|(k, _)| k == "through")
        .map(|(_, v)| v)
        .sum();
    assert_eq!(through, 11);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

fn wait_started(child: &mut Child) -> BufReader<std::process::ChildStdout> {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("progress") {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "child ended early"
        );
    }
    reader
}

#[test]
fn killed_and_stopped_processes_leave_no_lock_or_torn_slot() {
    let path = temp_store("storm");
    Guard::new(policy(&path)).unwrap();
    // The killed and the stopped process are far from done when the signal comes.
    let (n, long) = (100_000, 2_000_000);
    let mut killed = spawn("storm", &path, long);
    let mut stopped = spawn("storm", &path, long);
    let _killed_out = wait_started(&mut killed);
    let stopped_out = wait_started(&mut stopped);
    let survivors: Vec<Child> = (0..2).map(|_| spawn("storm", &path, n)).collect();
    // SIGKILL one mid-storm, SIGSTOP another; the survivors must finish.
    killed.kill().unwrap();
    killed.wait().unwrap();
    let pid = stopped.id().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    for child in survivors {
        assert!(results(child)
            .iter()
            .any(|(k, v)| k == "done" && *v == n as u64));
    }
    // Every slot is whole: each key's count is what the processes added to it.
    let guard = Guard::new(policy(&path)).unwrap();
    let total = |g: &Guard| -> u64 {
        (0..STORM_KEYS)
            .map(|i| {
                let a = format!("storm{i}");
                u64::from(g.inspect(&Attempt::new().account(&a)).unwrap().dimensions[0].failures)
            })
            .sum()
    };
    let while_stopped = total(&guard);
    assert!(
        while_stopped >= 2 * n as u64,
        "survivors' failures lost: {while_stopped}"
    );
    assert!(while_stopped < (2 * n + 2 * long) as u64, "{while_stopped}");
    // The stopped process resumes and finishes without anything to recover.
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    let rest: Vec<String> = stopped_out.lines().map(Result::unwrap).collect();
    assert!(stopped.wait().unwrap().success());
    assert!(rest.contains(&format!("done {long}")), "{rest:?}");
    let after = total(&guard);
    assert!(
        after >= (2 * n + long) as u64 && after < (2 * n + 2 * long) as u64,
        "{after}"
    );
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn processes_count_exactly_on_many_keys() {
    let path = temp_store("many");
    let guard = Guard::new(policy(&path)).unwrap();
    let n = 300_000;
    let children: Vec<Child> = (0..4).map(|_| spawn("storm", &path, n)).collect();
    for child in children {
        assert!(results(child)
            .iter()
            .any(|(k, v)| k == "done" && *v == n as u64));
    }
    let total: u64 = (0..STORM_KEYS)
        .map(|i| {
            let a = format!("storm{i}");
            u64::from(
                guard
                    .inspect(&Attempt::new().account(&a))
                    .unwrap()
                    .dimensions[0]
                    .failures,
            )
        })
        .sum();
    assert_eq!(guard.stats().evictions, 0);
    assert_eq!(total, 4 * n as u64);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn two_guards_in_one_process_share_the_file_and_it_survives_restarts() {
    let path = temp_store("two");
    let a = Guard::new(policy(&path)).unwrap();
    let b = Guard::new(policy(&path)).unwrap();
    let alice = Attempt::new().account("alice").ip("192.0.2.1");
    for _ in 0..3 {
        a.record_failure(&alice).unwrap();
    }
    let d = b.record_failure(&alice).unwrap();
    assert_eq!((d.action, d.failures), (Action::Challenge, 4));
    drop((a, b));
    // A new policy opens the same counters: they are policy-independent.
    let mut stricter = policy(&path);
    stricter.account.challenge_after = Some(1);
    stricter.account.forget_after = std::time::Duration::from_secs(3600);
    let c = Guard::new(stricter).unwrap();
    assert_eq!(c.check(&alice).unwrap().failures, 4);
    c.reset_account("alice").unwrap();
    assert_eq!(c.check(&alice).unwrap().failures, 0);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn creating_at_once_ends_with_one_file() {
    let path = temp_store("race");
    let barrier = std::sync::Barrier::new(8);
    let guards: Vec<Guard> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    Guard::new(policy(&path)).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let who = Attempt::new().account("racer");
    for g in &guards {
        g.record_failure(&who).unwrap();
    }
    for g in &guards {
        assert_eq!(g.check(&who).unwrap().failures, 8);
    }
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "temporary files left behind");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn foreign_and_mismatched_files_are_clear_errors() {
    let path = temp_store("bad");
    let open = |capacity: usize| {
        let mut p = policy(&path);
        p.store.capacity = capacity;
        Guard::new(p).map(|_| ()).unwrap_err()
    };
    let expect = |err: loginguard::Error, needle: &str| {
        assert_eq!(err.kind(), ErrorKind::Store, "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    };
    std::fs::write(&path, b"short").unwrap();
    expect(open(CAPACITY), "shorter than a header");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    expect(open(CAPACITY), "not a loginguard store");

    std::fs::remove_file(&path).unwrap();
    Guard::new(policy(&path)).unwrap();
    let good = std::fs::read(&path).unwrap();
    expect(open(CAPACITY * 2), "store.capacity");
    let patched = |offset: usize, byte: u8| {
        let mut bytes = good.clone();
        bytes[offset] = byte;
        std::fs::write(&path, bytes).unwrap();
    };
    patched(8, 9);
    expect(open(CAPACITY), "layout version 9");
    patched(12, 7);
    expect(open(CAPACITY), "hash id 7");
    std::fs::write(&path, &good[..good.len() - 256]).unwrap();
    expect(open(CAPACITY), "damaged");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}
