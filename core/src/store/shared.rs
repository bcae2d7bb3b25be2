//! The `shared` store: the buckets in a file that every worker process on the
//! host maps, so that all of them count on one table, which survives restarts.
//!
//! The file is a 4 KiB header followed by the buckets. The header is written
//! once, before the file appears under its name: a new store is built under a
//! temporary name (`.NAME.PID.RANDOM.tmp` beside it), its blocks reserved, and
//! hard-linked into place, which fails if another process got there first
//! (then both use the winner's file). After that only the buckets change,
//! through the same lock-free compare-and-swap as in memory, so a process
//! killed or stopped at any instant leaves no lock and no torn slot behind.
//!
//! | offset | header field                                             |
//! |--------|----------------------------------------------------------|
//! | 0      | magic `LGSTORE\0`                                        |
//! | 8      | layout version (u32 LE), 3                               |
//! | 12     | hash id (u32 LE): 1 = XXH3-64 with secret, key derivation v1 |
//! | 16     | capacity in keys, as configured (u64 LE)                 |
//! | 24     | buckets (u64 LE)                                         |
//! | 32     | bytes per bucket (u32 LE), 256                           |
//! | 36     | clock kind (u32 LE): 1 = Unix ms (system clock), 2 = manual |
//! | 40     | epoch: the clock time slot times count from (u64 LE, ms) |
//! | 48     | hash secret, 192 bytes                                   |
//! | 1024   | statistics: evictions, refused inserts, decisions by action, the site-wide window (atomics) |
//!
//! Version 3 added the site-wide failure window to the statistics and the
//! `ip_range` dimension's slots; a version 2 file is refused (delete it).
//!
//! **Time.** Slots store times as 40 bits of milliseconds from the epoch (34
//! years), so a file is only as good as its epoch, and a wrong one would
//! freeze time for every process that opens it. Every case is refused with a
//! store error naming the file, never re-based: re-basing would rewrite the
//! header under processes that already map it and cache its epoch, and would
//! shift every lock and window they recorded. Refused are:
//! - a file made by another kind of clock (manual versus Unix time);
//! - on a Unix-time clock: a clock that reads before 2020-01-01 (a host
//!   before NTP), which makes no store and opens none, and a file whose
//!   epoch is before 2020-01-01;
//! - an epoch more than a minute ahead of the guard's clock (no time would
//!   pass until the clock caught up);
//! - an epoch so far back that less than a year of slot time is left, or so
//!   large that times from it would overflow.
//!
//! Delete a refused file to start afresh; the error says why it was refused.
//!
//! **Space.** The file's blocks are reserved (`fallocate`) before it is linked
//! into place, so a full filesystem (a small `/dev/shm`) is a store error at
//! construction, never a SIGBUS when a worker first touches a page.
//!
//! **Trust.** The file is opened without following a symbolic link at its
//! path, and must be a regular file that nobody but its owner and (with
//! `store.mode` granting it) its group can write: a world-writable file is
//! always refused; a group-writable one, or one owned by another user, only
//! when `store.mode` gives the group write access ("0660"), and then only if
//! the file's group is one of this process's. New files get exactly
//! `store.mode` (default "0600"), whatever the umask. A creation killed
//! halfway leaves its temporary file; the next guard to open or create the
//! store removes those whose process no longer exists (and that are older
//! than five minutes, so that a creator in another PID namespace, whose
//! process this one cannot see, is left alone).

use std::fs::{File, OpenOptions, Permissions};
use std::io::ErrorKind as IoKind;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use memmap2::{MmapMut, MmapOptions};
use rustix::io::Errno;

use super::{buckets_for, fresh_secret, Opened, Region};
use crate::clock::{Clock, ClockKind};
use crate::error::{Error, Result};
use crate::fingerprint::SECRET_BYTES;
use crate::policy::MAX_FORGET;
use crate::stats::Counters;
use crate::table::{Bucket, MAX_TIME};

const MAGIC: [u8; 8] = *b"LGSTORE\0";
/// Bumped whenever the header or the slot layout changes meaning.
pub(crate) const LAYOUT_VERSION: u32 = 3;
/// Bumped whenever fingerprints would come out differently.
pub(crate) const HASH_ID: u32 = 1;
const HEADER_BYTES: usize = 4096;
const CLOCK_AT: usize = 36;
const EPOCH_AT: usize = 40;
const SECRET_AT: usize = 48;
const COUNTERS_AT: usize = 1024;
const _: () = assert!(SECRET_AT + SECRET_BYTES <= COUNTERS_AT);
const _: () = assert!(COUNTERS_AT + std::mem::size_of::<Counters>() <= HEADER_BYTES);
const _: () = assert!(COUNTERS_AT.is_multiple_of(std::mem::align_of::<Counters>()));
const BUCKET_BYTES: usize = std::mem::size_of::<Bucket>();

/// 2020-01-01T00:00:00Z in Unix ms: a Unix-time clock reading earlier is wrong.
const SANE_FLOOR_MS: u64 = 1_577_836_800_000;
/// How far a file's epoch may be ahead of the clock (clocks of processes
/// that read a tick apart, a small step back by NTP).
const AHEAD_TOLERANCE_MS: u64 = 60_000;
/// Slot time a file must have left to be opened.
const HEADROOM_MS: u64 = MAX_FORGET.as_millis() as u64;
/// A temporary file this old whose process is gone is a killed creation's.
const STALE_TEMP_AGE: Duration = Duration::from_secs(5 * 60);

/// A mapped store file: header, statistics and buckets.
#[derive(Debug)]
pub(crate) struct Mapped {
    map: MmapMut,
    len: usize,
}

impl Mapped {
    pub(crate) fn buckets(&self) -> &[Bucket] {
        // SAFETY: the mapping holds the header and then `len` buckets
        // (checked against the file's size when opened), page-aligned; every
        // byte pattern of a bucket is valid (plain integers). The memory is
        // shared with other processes and only ever accessed through atomics.
        unsafe {
            std::slice::from_raw_parts(
                self.map.as_ptr().add(HEADER_BYTES).cast::<Bucket>(),
                self.len,
            )
        }
    }

    pub(crate) fn counters(&self) -> &Counters {
        // SAFETY: the header holds the counters at COUNTERS_AT, aligned (the
        // mapping is page-aligned); every byte pattern is valid (atomics), and
        // they are only accessed atomically.
        unsafe { &*self.map.as_ptr().add(COUNTERS_AT).cast::<Counters>() }
    }
}

fn store_error(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Store(format!("{}: {what}", path.display()))
}

/// The header's number for a kind of clock.
fn clock_id(kind: ClockKind) -> u32 {
    match kind {
        ClockKind::UnixMs => 1,
        ClockKind::Manual => 2,
    }
}

fn clock_of(id: u32) -> Option<ClockKind> {
    match id {
        1 => Some(ClockKind::UnixMs),
        2 => Some(ClockKind::Manual),
        _ => None,
    }
}

fn describe(kind: ClockKind) -> &'static str {
    match kind {
        ClockKind::UnixMs => "a clock on Unix time (the system clock)",
        ClockKind::Manual => "a manual clock",
    }
}

/// Bytes of a store file with `buckets` buckets; `None` past what a file can hold.
fn file_bytes(buckets: usize) -> Option<u64> {
    u64::try_from(buckets)
        .ok()?
        .checked_mul(BUCKET_BYTES as u64)?
        .checked_add(HEADER_BYTES as u64)
}

/// Opens the store file at `path`, creating it with `mode` if there is none.
pub(crate) fn open(path: &Path, capacity: usize, mode: u32, clock: &dyn Clock) -> Result<Opened> {
    remove_stale_temps(path);
    for _ in 0..3 {
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(path);
        match opened {
            Ok(file) => return map(path, &file, capacity, mode, clock),
            Err(e) if e.kind() == IoKind::NotFound => create(path, capacity, mode, clock)?,
            Err(e)
                if e.raw_os_error() == Some(Errno::LOOP.raw_os_error())
                    && path.symlink_metadata().is_ok_and(|m| m.is_symlink()) =>
            {
                return Err(store_error(
                    path,
                    "is a symbolic link, and the store is never opened through one: set store.path to the file itself",
                ))
            }
            Err(e) => return Err(store_error(path, format!("cannot open: {e}"))),
        }
    }
    Err(store_error(
        path,
        "the file keeps disappearing while being opened",
    ))
}

/// Refuses a time the file's slots cannot count from for this clock (see
/// the module docs): `file_kind` and `epoch` are the file's, `guard_kind` and
/// `now` the guard clock's.
fn check_time(
    path: &Path,
    file_kind: ClockKind,
    epoch: u64,
    guard_kind: ClockKind,
    now: u64,
) -> Result<()> {
    let unix = guard_kind == ClockKind::UnixMs;
    if unix && now < SANE_FLOOR_MS {
        return Err(store_error(
            path,
            format!("the guard's clock reads {now} ms of Unix time, before 2020-01-01: the clock is wrong (not yet set by NTP?), and a shared store counts on it; set the clock first"),
        ));
    }
    if file_kind != guard_kind {
        return Err(store_error(
            path,
            format!(
                "made by a guard on {}, but this guard reads {}: the file's times mean nothing on this clock; use the same kind of clock, or delete the file to start afresh",
                describe(file_kind),
                describe(guard_kind)
            ),
        ));
    }
    if unix && epoch < SANE_FLOOR_MS {
        return Err(store_error(
            path,
            format!("its epoch, {epoch} ms of Unix time, is before 2020-01-01 (made while the clock was wrong); delete it to start afresh"),
        ));
    }
    if epoch > now.saturating_add(AHEAD_TOLERANCE_MS) {
        return Err(store_error(
            path,
            format!(
                "its epoch is {} ms ahead of the guard's clock (made by a clock that was ahead, or the clock was set back): no time would pass until the clock caught up; fix the clock, or delete the file to start afresh",
                epoch - now
            ),
        ));
    }
    if epoch > u64::MAX - MAX_TIME {
        return Err(store_error(
            path,
            format!("its epoch, {epoch} ms, is too large for times to count from"),
        ));
    }
    let age = now.saturating_sub(epoch);
    if age > MAX_TIME - HEADROOM_MS {
        return Err(store_error(
            path,
            format!(
                "too old: {age} ms since its epoch, and its slots hold times only up to {MAX_TIME} ms (34 years) from it, with a year to spare; delete it to start afresh"
            ),
        ));
    }
    Ok(())
}

/// Builds a complete store under a temporary name, then links it into place
/// unless another process already did.
fn create(path: &Path, capacity: usize, mode: u32, clock: &dyn Clock) -> Result<()> {
    let (kind, now) = (clock.kind(), clock.now_ms());
    check_time(path, kind, now, kind, now)?;
    let buckets = buckets_for(capacity);
    let total = file_bytes(buckets).ok_or_else(|| {
        store_error(
            path,
            format!("store.capacity {capacity} is too large for a file"),
        )
    })?;
    let secret = fresh_secret()?;
    let temp = temp_name(path, &secret);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)
        .map_err(|e| store_error(path, format!("cannot create {}: {e}", temp.display())))?;
    let written = (|| {
        // Exactly `mode`, whatever the umask took from it.
        file.set_permissions(Permissions::from_mode(mode))
            .map_err(|e| store_error(path, format!("cannot set its mode to {mode:04o}: {e}")))?;
        reserve(&file, total, true).map_err(|e| space_error(path, total, capacity, &e))?;
        let io = |e: std::io::Error| store_error(path, format!("cannot create the store: {e}"));
        file.write_all_at(&header(capacity, buckets, kind, now, &secret), 0)
            .map_err(io)?;
        file.sync_all().map_err(io)?;
        match std::fs::hard_link(&temp, path) {
            Err(e) if e.kind() != IoKind::AlreadyExists => Err(io(e)),
            _ => Ok(()),
        }
    })();
    let _ = std::fs::remove_file(&temp);
    written
}

fn space_error(path: &Path, total: u64, capacity: usize, e: &std::io::Error) -> Error {
    if matches!(e.raw_os_error(), Some(c) if c == Errno::NOSPC.raw_os_error() || c == Errno::DQUOT.raw_os_error())
    {
        store_error(
            path,
            format!("not enough space on its filesystem for the store's {total} bytes (store.capacity = {capacity}): {e}"),
        )
    } else {
        store_error(
            path,
            format!("cannot reserve the store's {total} bytes: {e}"),
        )
    }
}

/// Reserves the blocks of the file's first `len` bytes, so that writing
/// through the mapping never needs space the filesystem lacks (SIGBUS).
/// Where the filesystem cannot reserve, a new file (`fill`) is written with
/// zeros instead; an existing one is left as it is.
fn reserve(file: &File, len: u64, fill: bool) -> std::io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => return Ok(()),
        Err(e) if e == Errno::OPNOTSUPP || e == Errno::NOSYS => {}
        Err(e) => return Err(e.into()),
    }
    if fill {
        let zeros = vec![0u8; 1 << 16];
        let mut at = 0;
        while at < len {
            let n = (len - at).min(zeros.len() as u64);
            file.write_all_at(&zeros[..n as usize], at)?;
            at += n;
        }
    }
    Ok(())
}

fn temp_name(path: &Path, secret: &[u8; SECRET_BYTES]) -> PathBuf {
    let unique = u64::from_le_bytes(secret[..8].try_into().expect("8 bytes"));
    path.with_file_name(format!(
        "{}{}.{unique:016x}.tmp",
        temp_prefix(path),
        std::process::id()
    ))
}

/// The start of the names of `path`'s temporary files: `.NAME.`.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map_or_else(|| "store".into(), |n| n.to_string_lossy());
    format!(".{name}.")
}

/// Removes the temporary files of creations that were killed halfway: those
/// of `path` whose process no longer exists, if older than a few minutes.
fn remove_stale_temps(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = temp_prefix(path);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Some((pid, unique)) = rest.split_once('.') else {
            continue;
        };
        let pid = pid
            .parse::<i32>()
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        let Some(pid) = pid else {
            continue;
        };
        if unique.len() != 16 || !unique.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        // EPERM: it exists, as another user's process.
        if rustix::process::test_kill_process(pid) != Err(Errno::SRCH) {
            continue;
        }
        // Not following links; old enough that no creator is still at work.
        let stale = entry.metadata().is_ok_and(|m| {
            m.is_file()
                && m.modified().is_ok_and(|t| {
                    SystemTime::now()
                        .duration_since(t)
                        .is_ok_and(|age| age >= STALE_TEMP_AGE)
                })
        });
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn header(
    capacity: usize,
    buckets: usize,
    kind: ClockKind,
    epoch_ms: u64,
    secret: &[u8; SECRET_BYTES],
) -> Vec<u8> {
    let mut h = vec![0u8; HEADER_BYTES];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&LAYOUT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&HASH_ID.to_le_bytes());
    h[16..24].copy_from_slice(&(capacity as u64).to_le_bytes());
    h[24..32].copy_from_slice(&(buckets as u64).to_le_bytes());
    h[32..36].copy_from_slice(&(BUCKET_BYTES as u32).to_le_bytes());
    h[CLOCK_AT..CLOCK_AT + 4].copy_from_slice(&clock_id(kind).to_le_bytes());
    h[EPOCH_AT..EPOCH_AT + 8].copy_from_slice(&epoch_ms.to_le_bytes());
    h[SECRET_AT..SECRET_AT + SECRET_BYTES].copy_from_slice(secret);
    h
}

/// Refuses a file that is not a regular file, that anyone may write, or that
/// its group may write or another user owns when `mode` does not give the
/// group write access.
fn check_trust(path: &Path, meta: &std::fs::Metadata, mode: u32) -> Result<()> {
    if !meta.file_type().is_file() {
        return Err(store_error(path, "not a regular file"));
    }
    let perm = meta.mode() & 0o7777;
    if perm & 0o002 != 0 {
        return Err(store_error(
            path,
            format!("anyone can write it (mode {perm:04o}), so it is never trusted: remove others' access (chmod o-w) or delete it"),
        ));
    }
    let group_shares = mode & 0o020 != 0;
    if perm & 0o020 != 0 && !group_shares {
        return Err(store_error(
            path,
            format!("its group can write it (mode {perm:04o}), but store.mode is \"{mode:04o}\": set store.mode = \"0660\" to share the store with the group, or remove the group's write access"),
        ));
    }
    let (owner, me) = (meta.uid(), rustix::process::geteuid().as_raw());
    if owner != me {
        if !group_shares {
            return Err(store_error(
                path,
                format!("owned by user {owner}, not by this process's user {me}: set store.mode = \"0660\" to share the store with a group, or give the file to this user"),
            ));
        }
        let gid = meta.gid();
        let ours = rustix::process::getegid().as_raw() == gid
            || rustix::process::getgroups()
                .is_ok_and(|groups| groups.iter().any(|g| g.as_raw() == gid));
        if !ours {
            return Err(store_error(
                path,
                format!("owned by user {owner} and group {gid}, a group this process is not in"),
            ));
        }
    }
    Ok(())
}

/// Checks an existing file's trust and header against this build, the
/// policy and the clock, then maps it.
fn map(path: &Path, file: &File, capacity: usize, mode: u32, clock: &dyn Clock) -> Result<Opened> {
    let meta = file
        .metadata()
        .map_err(|e| store_error(path, format!("cannot read its status: {e}")))?;
    check_trust(path, &meta, mode)?;
    let len = meta.len();
    if len < HEADER_BYTES as u64 {
        return Err(store_error(
            path,
            format!("not a loginguard store: {len} bytes, shorter than a header"),
        ));
    }
    let mut h = vec![0u8; HEADER_BYTES];
    file.read_exact_at(&mut h, 0)
        .map_err(|e| store_error(path, format!("cannot read the header: {e}")))?;
    let u32_at = |o: usize| u32::from_le_bytes(h[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().expect("8 bytes"));
    if h[0..8] != MAGIC {
        return Err(store_error(
            path,
            "not a loginguard store (no loginguard header)",
        ));
    }
    if u32_at(8) != LAYOUT_VERSION {
        return Err(store_error(
            path,
            format!(
                "layout version {} is not this build's version {LAYOUT_VERSION}",
                u32_at(8)
            ),
        ));
    }
    if u32_at(12) != HASH_ID {
        return Err(store_error(
            path,
            format!(
                "hash id {} is not this build's hash id {HASH_ID}",
                u32_at(12)
            ),
        ));
    }
    if u64_at(16) != capacity as u64 {
        return Err(store_error(
            path,
            format!(
                "the store holds {} keys but the policy's store.capacity is {capacity}",
                u64_at(16)
            ),
        ));
    }
    let file_kind = clock_of(u32_at(CLOCK_AT)).ok_or_else(|| {
        store_error(
            path,
            format!("damaged: unknown clock kind {}", u32_at(CLOCK_AT)),
        )
    })?;
    let epoch_ms = u64_at(EPOCH_AT);
    check_time(path, file_kind, epoch_ms, clock.kind(), clock.now_ms())?;
    let buckets = buckets_for(capacity);
    let expected = file_bytes(buckets).ok_or_else(|| {
        store_error(
            path,
            format!("store.capacity {capacity} is too large for a file"),
        )
    })?;
    if u64_at(24) != buckets as u64 || u32_at(32) != BUCKET_BYTES as u32 || len != expected {
        return Err(store_error(
            path,
            format!("damaged: {len} bytes where the header promises {expected}"),
        ));
    }
    let map_len = usize::try_from(expected).map_err(|_| {
        store_error(
            path,
            format!("{expected} bytes are more than this process can map"),
        )
    })?;
    // A file copied without its blocks (a sparse copy) gets them now.
    if let Err(e) = reserve(file, expected, false) {
        if matches!(e.raw_os_error(), Some(c) if c == Errno::NOSPC.raw_os_error() || c == Errno::DQUOT.raw_os_error())
        {
            return Err(space_error(path, expected, capacity, &e));
        }
    }
    // SAFETY: the file is a loginguard store of the right size (checked
    // above); its buckets are only accessed through atomics, by this and
    // other processes. Shrinking a store file while it is in use is outside
    // the contract (as for any shared mapping).
    let map = unsafe { MmapOptions::new().len(map_len).map_mut(file) }
        .map_err(|e| store_error(path, format!("cannot map: {e}")))?;
    let mut secret = [0u8; SECRET_BYTES];
    secret.copy_from_slice(&h[SECRET_AT..SECRET_AT + SECRET_BYTES]);
    Ok(Opened {
        buckets: Region::Mapped(Mapped { map, len: buckets }),
        secret,
        epoch_ms,
        redis: None,
    })
}
