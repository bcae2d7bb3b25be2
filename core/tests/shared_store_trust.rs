//! Which store files a guard trusts: never one behind a symbolic link, one
//! that everyone may write, or (unless `store.mode` lets a group share it) one
//! that another user owns or that the group may write. New files get exactly
//! `store.mode`, and a creation killed halfway leaves nothing for long.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use loginguard::{Attempt, ErrorKind, Guard, Policy};
use support::shared::{self, refused};

const CAPACITY: usize = 1 << 10;

fn temp_store(name: &str) -> PathBuf {
    shared::temp_store("trust", name)
}

/// The shared-store policy, with `extra` lines in its `[store]` table.
fn policy(path: &Path, extra: &str) -> loginguard::Result<Policy> {
    Policy::from_toml(&format!(
        "[store]\nkind = \"shared\"\npath = {:?}\ncapacity = {CAPACITY}\n{extra}",
        path.to_str().unwrap()
    ))
}

fn open(path: &Path, extra: &str) -> loginguard::Result<Guard> {
    Guard::new(policy(path, extra)?)
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_symbolic_link_at_the_path_is_refused() {
    let path = temp_store("symlink");
    let real = path.with_file_name("elsewhere.store");
    open(&real, "").unwrap();
    std::os::unix::fs::symlink(&real, &path).unwrap();
    refused(open(&path, ""), &path, "symbolic link");
    // A dangling link is not followed to create a file where it points either.
    let dangling = path.with_file_name("dangling.store");
    let target = path.with_file_name("target.store");
    std::os::unix::fs::symlink(&target, &dangling).unwrap();
    refused(open(&dangling, ""), &dangling, "symbolic link");
    assert!(!target.exists());
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn a_world_writable_file_is_never_accepted() {
    let path = temp_store("world");
    open(&path, "").unwrap();
    chmod(&path, 0o666);
    refused(open(&path, ""), &path, "anyone can write");
    refused(open(&path, "mode = \"0660\""), &path, "anyone can write");
    chmod(&path, 0o602);
    refused(open(&path, "mode = \"0660\""), &path, "anyone can write");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn a_group_writable_file_needs_a_mode_that_allows_it() {
    let path = temp_store("group");
    open(&path, "").unwrap();
    chmod(&path, 0o660);
    refused(open(&path, ""), &path, "store.mode");
    refused(open(&path, "mode = \"0640\""), &path, "store.mode");
    open(&path, "mode = \"0660\"").unwrap();
    // Readable by the group only: nobody else can change it.
    chmod(&path, 0o640);
    open(&path, "").unwrap();
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn new_files_get_exactly_the_configured_mode() {
    let path = temp_store("mode");
    open(&path, "").unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o600);
    let shared = path.with_file_name("group.store");
    // Exactly 0660 whatever the umask (commonly 022, which would take the group's write).
    open(&shared, "mode = \"0660\"").unwrap();
    assert_eq!(std::fs::metadata(&shared).unwrap().mode() & 0o7777, 0o660);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

/// Changing a file's owner takes root; elsewhere this test only says so.
#[test]
fn a_file_another_user_owns_needs_a_group_mode() {
    if our_uid() != 0 {
        eprintln!("skipped: only root can give a file to another user");
        return;
    }
    let path = temp_store("owner");
    open(&path, "").unwrap();
    let our_gid = std::fs::metadata(&path).unwrap().gid();
    // nobody owns it; our group may read and write it.
    std::os::unix::fs::chown(&path, Some(65534), Some(our_gid)).unwrap();
    chmod(&path, 0o600);
    refused(open(&path, ""), &path, "owned by user 65534");
    chmod(&path, 0o660);
    let guard = open(&path, "mode = \"0660\"").unwrap();
    guard
        .record_failure(&Attempt::new().account("alice"))
        .unwrap();
    // A group we are not in: refused even with a group mode.
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    chmod(&path, 0o660);
    refused(open(&path, "mode = \"0660\""), &path, "group 65534");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

/// The effective user id, read from a file this process just made.
fn our_uid() -> u32 {
    let dir = temp_store("whoami");
    std::fs::write(&dir, b"").unwrap();
    let uid = std::fs::metadata(&dir).unwrap().uid();
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    uid
}

#[test]
fn temporary_files_of_dead_creators_are_removed_by_the_next() {
    let path = temp_store("stale");
    let dir = path.parent().unwrap();
    // A process that has ended: its pid names no process now.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = dir.join(format!(".counters.store.{dead}.00112233aabbccdd.tmp"));
    let live = dir.join(format!(
        ".counters.store.{}.00112233aabbccdd.tmp",
        std::process::id()
    ));
    let other = dir.join(format!(".other.store.{dead}.00112233aabbccdd.tmp"));
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for f in [&stale, &live, &other] {
        let file = std::fs::File::create(f).unwrap();
        file.set_len(4096).unwrap();
        file.set_modified(an_hour_ago).unwrap();
    }
    open(&path, "").unwrap();
    assert!(!stale.exists(), "a dead creator's temporary file was left");
    assert!(live.exists(), "a live creator's temporary file was removed");
    assert!(other.exists(), "another store's temporary file was removed");
    // A creation killed while another finished: the next guard that opens it cleans up.
    let file = std::fs::File::create(&stale).unwrap();
    file.set_modified(an_hour_ago).unwrap();
    let recent = dir.join(format!(".counters.store.{dead}.ffeeddccbbaa9988.tmp"));
    std::fs::File::create(&recent).unwrap();
    open(&path, "").unwrap();
    assert!(!stale.exists(), "a dead creator's temporary file was left");
    assert!(recent.exists(), "a temporary file minutes old was removed");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn store_mode_is_validated_and_named() {
    let path = temp_store("policy");
    let err = |extra: &str| policy(&path, extra).unwrap_err();
    for bad in [
        "mode = \"0666\"",
        "mode = \"0606\"",
        "mode = \"0700\"",
        "mode = \"0400\"",
        "mode = \"4660\"",
        "mode = \"abc\"",
        "mode = \"\"",
        "mode = \"06600\"",
        "mode = 660",
    ] {
        let e = err(bad);
        assert_eq!(e.kind(), ErrorKind::Policy, "{bad}: {e}");
        assert!(e.to_string().contains("store.mode"), "{bad}: {e}");
    }
    for good in [
        "mode = \"0600\"",
        "mode = \"0640\"",
        "mode = \"0660\"",
        "mode = \"660\"",
    ] {
        policy(&path, good).unwrap();
    }
    let e = Policy::from_toml("[store]\nmode = \"0660\"").unwrap_err();
    assert!(e.to_string().contains("store.mode"), "{e}");
    assert!(e.to_string().contains("shared"), "{e}");
    let e = Policy::from_toml("[store]\nmode = \"0660\"\nkind = \"memory\"").unwrap_err();
    assert!(e.to_string().contains("store.mode"), "{e}");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}
