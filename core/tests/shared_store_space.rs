//! The shared store's blocks are reserved when the file is made: a full
//! filesystem is a store error at construction, never a SIGBUS in a worker
//! when it first touches a page of the table.
//!
//! Child processes are this test binary run again with `LOGINGUARD_CHILD` set.

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::shared;

use loginguard::{Attempt, ErrorKind, Guard, Policy};

const CAPACITY: usize = 1 << 14; // 4 KiB + 512 KiB of buckets

fn policy(path: &Path) -> Policy {
    shared::policy(path, CAPACITY)
}

fn temp_dir(name: &str) -> PathBuf {
    shared::temp_dir("space", name)
}

#[test]
fn the_store_file_has_its_blocks_reserved() {
    let dir = temp_dir("blocks");
    let path = dir.join("counters.store");
    Guard::new(policy(&path)).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert!(
        meta.blocks() * 512 >= meta.len(),
        "sparse store file: {} bytes, {} reserved",
        meta.len(),
        meta.blocks() * 512
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs in a child process on the small filesystem: opens the store and
/// fills its table, then says how it went.
#[test]
fn child_main() {
    if std::env::var("LOGINGUARD_CHILD").as_deref() != Ok("small-fs") {
        return;
    }
    let path = PathBuf::from(std::env::var("LOGINGUARD_STORE").unwrap());
    match Guard::new(policy(&path)) {
        Err(e) => {
            println!("error {} {e}", e.kind());
            let dir = path.parent().unwrap();
            println!("leftovers {}", std::fs::read_dir(dir).unwrap().count());
        }
        Ok(guard) => {
            for i in 0..CAPACITY {
                let who = format!("user{i}");
                guard.record_failure(&Attempt::new().account(&who)).unwrap();
            }
            println!("filled");
        }
    }
}

/// A 256 KiB tmpfs (a container's full /dev/shm) in a private mount
/// namespace, where a 516 KiB store cannot be backed.
#[test]
fn a_full_filesystem_is_a_store_error_not_a_crash() {
    let dir = temp_dir("small-fs");
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let store = mnt.join("counters.store");
    let exe = std::env::current_exe().unwrap();
    let script =
        "mount -t tmpfs -o size=256k loginguard-test \"$1\" || exit 97; shift; exec \"$@\"";
    let in_namespace = |namespaces: &[&str]| {
        Command::new("unshare")
            .args(namespaces)
            .args(["sh", "-c", script, "sh"])
            .arg(&mnt)
            .arg(&exe)
            .args([
                "--exact",
                "child_main",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ])
            .env("LOGINGUARD_CHILD", "small-fs")
            .env("LOGINGUARD_STORE", &store)
            .output()
            .map_err(|e| format!("unshare: {e}"))
            .and_then(|o| {
                // No namespace, or no mount in it (a locked-down container).
                let stderr = String::from_utf8_lossy(&o.stderr);
                if o.status.code() == Some(97) || stderr.starts_with("unshare:") {
                    Err(format!("{:?}: {stderr}", o.status))
                } else {
                    Ok(o)
                }
            })
    };
    // A user namespace works unprivileged; a mount namespace alone as root.
    let out = in_namespace(&["--user", "--map-root-user", "--mount"])
        .or_else(|first| in_namespace(&["--mount"]).map_err(|second| format!("{first}; {second}")));
    let out = match out {
        Ok(out) => out,
        Err(why) => {
            assert!(
                std::env::var_os("LOGINGUARD_REQUIRE_SMALL_FS").is_none(),
                "cannot mount a small filesystem here: {why}"
            );
            eprintln!("skipped: cannot mount a small filesystem here: {why}");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the worker died (a signal: {:?}): {stdout} {}",
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("error") || l.starts_with("filled"))
        .unwrap_or_default();
    assert!(
        line.starts_with(&format!("error {} ", ErrorKind::Store)),
        "{stdout}"
    );
    assert!(line.contains("space"), "{line}");
    assert!(line.contains("counters.store"), "{line}");
    // Nothing half-made is left behind: no file under the name, no temporary file.
    assert!(stdout.contains("leftovers 0"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}
