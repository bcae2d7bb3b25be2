//! The meta key's blob: which store this is, and its hash secret.
//!
//! | offset | field                                                        |
//! |--------|--------------------------------------------------------------|
//! | 0      | magic `LGREDIS\0`                                            |
//! | 8      | layout version (u32 LE), 1                                   |
//! | 12     | hash id (u32 LE), as the shared store's                      |
//! | 16     | clock kind (u32 LE): 1 = Unix ms, 2 = manual                 |
//! | 20     | secret source (u32 LE): 1 = this blob, 2 = `store.secret_file` |
//! | 24     | epoch: the time counters count from (u64 LE, ms)             |
//! | 32     | policy digest (u64 LE): hosts with other rules are counted   |
//! | 40     | the 192-byte secret, or (source 2) its 8-byte digest, zeros after |

use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

use crate::clock::ClockKind;
use crate::error::{Error, Result};
use crate::fingerprint::SECRET_BYTES;

const MAGIC: [u8; 8] = *b"LGREDIS\0";
/// Bumped whenever key names or values change meaning.
const LAYOUT_VERSION: u32 = 1;
const BYTES: usize = 40 + SECRET_BYTES;
/// Where the policy digest lies: the one field hosts may disagree on.
const DIGEST: std::ops::Range<usize> = 32..40;

#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub(crate) clock: ClockKind,
    pub(crate) from_file: bool,
    pub(crate) epoch: u64,
    pub(crate) policy_digest: u64,
    pub(crate) secret: [u8; SECRET_BYTES],
}

fn clock_id(kind: ClockKind) -> u32 {
    match kind {
        ClockKind::UnixMs => 1,
        ClockKind::Manual => 2,
    }
}

fn word(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn long(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Meta {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(BYTES);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&LAYOUT_VERSION.to_le_bytes());
        b.extend_from_slice(&crate::store::HASH_ID.to_le_bytes());
        b.extend_from_slice(&clock_id(self.clock).to_le_bytes());
        b.extend_from_slice(&(if self.from_file { 2u32 } else { 1 }).to_le_bytes());
        b.extend_from_slice(&self.epoch.to_le_bytes());
        b.extend_from_slice(&self.policy_digest.to_le_bytes());
        if self.from_file {
            let mut s = [0u8; SECRET_BYTES];
            s[..8].copy_from_slice(&xxh3_64(&self.secret).to_le_bytes());
            b.extend_from_slice(&s);
        } else {
            b.extend_from_slice(&self.secret);
        }
        b
    }

    /// Reads a blob; what is wrong with it otherwise.
    pub(crate) fn decode(b: &[u8]) -> std::result::Result<Meta, String> {
        if b.len() != BYTES || b[..8] != MAGIC {
            return Err("is not a loginguard meta key (another prefix may be needed)".into());
        }
        if word(b, 8) != LAYOUT_VERSION {
            return Err(format!(
                "has layout version {}, this build reads {LAYOUT_VERSION}: use another store.prefix",
                word(b, 8)
            ));
        }
        if word(b, 12) != crate::store::HASH_ID {
            return Err(format!(
                "has hash id {}, this build uses {}",
                word(b, 12),
                crate::store::HASH_ID
            ));
        }
        let clock = match word(b, 16) {
            1 => ClockKind::UnixMs,
            2 => ClockKind::Manual,
            n => return Err(format!("has an unknown clock kind {n}")),
        };
        let from_file = match word(b, 20) {
            1 => false,
            2 => true,
            n => return Err(format!("has an unknown secret source {n}")),
        };
        let mut secret = [0u8; SECRET_BYTES];
        secret.copy_from_slice(&b[40..]);
        Ok(Meta {
            clock,
            from_file,
            epoch: long(b, 24),
            policy_digest: long(b, 32),
            secret,
        })
    }

    /// Whether a guard with this clock kind and secret file can use the store.
    pub(crate) fn fits(
        &mut self,
        clock: ClockKind,
        file_secret: Option<&[u8; SECRET_BYTES]>,
    ) -> std::result::Result<(), String> {
        if self.clock != clock {
            return Err(format!(
                "was made by a guard on a {} clock, and this guard's is {}",
                self.clock, clock
            ));
        }
        match (self.from_file, file_secret) {
            (false, None) => Ok(()),
            (true, Some(s)) if self.secret[..8] == xxh3_64(s).to_le_bytes() => {
                self.secret = *s;
                Ok(())
            }
            (true, Some(_)) => Err("was made with another store.secret_file".into()),
            (true, None) => Err("was made with a store.secret_file, and this policy has none".into()),
            (false, Some(_)) => Err(
                "holds its own secret, and this policy names a store.secret_file: use another store.prefix".into(),
            ),
        }
    }
}

/// Whether two blobs are the same store (they may differ in policy digest).
pub(crate) fn same_store(found: &[u8], ours: &[u8]) -> bool {
    found.len() == ours.len()
        && found[..DIGEST.start] == ours[..DIGEST.start]
        && found[DIGEST.end..] == ours[DIGEST.end..]
}

/// The secret from `store.secret_file`: 192 bytes, or 384 hex digits.
pub(crate) fn read_secret(path: &Path) -> Result<[u8; SECRET_BYTES]> {
    let bad = |why: String| Error::Store(format!("{}: {why}", path.display()));
    let bytes =
        std::fs::read(path).map_err(|e| bad(format!("cannot read store.secret_file: {e}")))?;
    if let Ok(raw) = <[u8; SECRET_BYTES]>::try_from(bytes.as_slice()) {
        return Ok(raw);
    }
    let text = std::str::from_utf8(&bytes).map(str::trim).unwrap_or("");
    if text.len() == 2 * SECRET_BYTES && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut out = [0u8; SECRET_BYTES];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|e| bad(e.to_string()))?;
        }
        return Ok(out);
    }
    Err(bad(format!(
        "store.secret_file must hold {SECRET_BYTES} bytes, or {} hex digits (e.g. `head -c {SECRET_BYTES} /dev/urandom | xxd -p -c0`), not {} bytes",
        2 * SECRET_BYTES,
        bytes.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_round_trips() {
        let m = Meta {
            clock: ClockKind::Manual,
            from_file: false,
            epoch: 42,
            policy_digest: 7,
            secret: [3; SECRET_BYTES],
        };
        let b = m.encode();
        let mut d = Meta::decode(&b).unwrap();
        assert_eq!(
            (d.epoch, d.policy_digest, d.secret),
            (42, 7, [3; SECRET_BYTES])
        );
        assert!(d.fits(ClockKind::Manual, None).is_ok());
        assert!(d.fits(ClockKind::UnixMs, None).is_err());
        let mut other = b.clone();
        other[DIGEST].copy_from_slice(&9u64.to_le_bytes());
        assert!(same_store(&other, &b));
        other[100] ^= 1;
        assert!(!same_store(&other, &b));
        assert!(Meta::decode(b"nope").is_err());
    }
}
