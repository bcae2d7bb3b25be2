//! The `shared` store: the buckets in a file that every worker process on the
//! host maps, so that all of them count on one table, which survives restarts.
//!
//! The file is a 4 KiB header followed by the buckets. The header is written
//! once, before the file appears under its name: a new store is built under a
//! temporary name and hard-linked into place, which fails if another process
//! got there first (then both use the winner's file). After that only the
//! buckets change, through the same lock-free compare-and-swap as in memory,
//! so a process killed or stopped at any instant leaves no lock and no torn
//! slot behind.
//!
//! | offset | header field                                             |
//! |--------|----------------------------------------------------------|
//! | 0      | magic `LGSTORE\0`                                        |
//! | 8      | layout version (u32 LE), 1                               |
//! | 12     | hash id (u32 LE): 1 = XXH3-64 with secret, key derivation v1 |
//! | 16     | capacity in keys, as configured (u64 LE)                 |
//! | 24     | buckets (u64 LE)                                         |
//! | 32     | bytes per bucket (u32 LE), 256                           |
//! | 40     | epoch: the clock time slot times count from (u64 LE, ms) |
//! | 48     | hash secret, 192 bytes                                   |
//! | 1024   | statistics: evictions, refused inserts, decisions by action (atomics) |

use std::fs::{File, OpenOptions};
use std::io::ErrorKind as IoKind;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use memmap2::{MmapMut, MmapOptions};

use super::{buckets_for, fresh_secret, Opened, Region};
use crate::error::{Error, Result};
use crate::fingerprint::SECRET_BYTES;
use crate::stats::Counters;
use crate::table::Bucket;

const MAGIC: [u8; 8] = *b"LGSTORE\0";
/// Bumped whenever the header or the slot layout changes meaning.
pub(crate) const LAYOUT_VERSION: u32 = 1;
/// Bumped whenever fingerprints would come out differently.
pub(crate) const HASH_ID: u32 = 1;
const HEADER_BYTES: usize = 4096;
const COUNTERS_AT: usize = 1024;
const _: () = assert!(COUNTERS_AT + std::mem::size_of::<Counters>() <= HEADER_BYTES);
const _: () = assert!(COUNTERS_AT % std::mem::align_of::<Counters>() == 0);
const BUCKET_BYTES: usize = std::mem::size_of::<Bucket>();

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

pub(crate) fn open(path: &Path, capacity: usize, now_ms: u64) -> Result<Opened> {
    for _ in 0..3 {
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => return map(path, &file, capacity),
            Err(e) if e.kind() == IoKind::NotFound => create(path, capacity, now_ms)?,
            Err(e) => return Err(store_error(path, format!("cannot open: {e}"))),
        }
    }
    Err(store_error(
        path,
        "the file keeps disappearing while being opened",
    ))
}

/// Builds a complete store under a temporary name, then links it into place
/// unless another process already did.
fn create(path: &Path, capacity: usize, now_ms: u64) -> Result<()> {
    let buckets = buckets_for(capacity);
    let total = HEADER_BYTES as u64 + (buckets * BUCKET_BYTES) as u64;
    let secret = fresh_secret()?;
    let temp = temp_name(path, &secret);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| store_error(path, format!("cannot create {}: {e}", temp.display())))?;
    let written = (|| {
        file.set_len(total)?;
        file.write_all_at(&header(capacity, buckets, now_ms, &secret), 0)?;
        file.sync_all()?;
        match std::fs::hard_link(&temp, path) {
            Err(e) if e.kind() != IoKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    })();
    let _ = std::fs::remove_file(&temp);
    written.map_err(|e| store_error(path, format!("cannot create the store: {e}")))
}

fn temp_name(path: &Path, secret: &[u8; SECRET_BYTES]) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "store".into(), |n| n.to_string_lossy());
    let unique = u64::from_le_bytes(secret[..8].try_into().expect("8 bytes"));
    path.with_file_name(format!(".{name}.{}.{unique:016x}.tmp", std::process::id()))
}

fn header(capacity: usize, buckets: usize, epoch_ms: u64, secret: &[u8; SECRET_BYTES]) -> Vec<u8> {
    let mut h = vec![0u8; HEADER_BYTES];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&LAYOUT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&HASH_ID.to_le_bytes());
    h[16..24].copy_from_slice(&(capacity as u64).to_le_bytes());
    h[24..32].copy_from_slice(&(buckets as u64).to_le_bytes());
    h[32..36].copy_from_slice(&(BUCKET_BYTES as u32).to_le_bytes());
    h[40..48].copy_from_slice(&epoch_ms.to_le_bytes());
    h[48..48 + SECRET_BYTES].copy_from_slice(secret);
    h
}

/// Checks an existing file's header against this build and the policy, then maps it.
fn map(path: &Path, file: &File, capacity: usize) -> Result<Opened> {
    let len = file
        .metadata()
        .map_err(|e| store_error(path, format!("cannot read its size: {e}")))?
        .len();
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
    let buckets = buckets_for(capacity);
    let expected = HEADER_BYTES as u64 + (buckets * BUCKET_BYTES) as u64;
    if u64_at(24) != buckets as u64 || u32_at(32) != BUCKET_BYTES as u32 || len != expected {
        return Err(store_error(
            path,
            format!("damaged: {len} bytes where the header promises {expected}"),
        ));
    }
    // SAFETY: the file is a loginguard store of the right size (checked
    // above); its buckets are only accessed through atomics, by this and
    // other processes. Shrinking a store file while it is in use is outside
    // the contract (as for any shared mapping).
    let map = unsafe { MmapOptions::new().len(expected as usize).map_mut(file) }
        .map_err(|e| store_error(path, format!("cannot map: {e}")))?;
    let mut secret = [0u8; SECRET_BYTES];
    secret.copy_from_slice(&h[48..48 + SECRET_BYTES]);
    Ok(Opened {
        buckets: Region::Mapped(Mapped { map, len: buckets }),
        secret,
        epoch_ms: u64_at(40),
    })
}
