//! Keyed fingerprints of keys: XXH3-64 with a random 192-byte secret.
//!
//! XXH3 has a frozen definition, so every build of the library (Rust, C,
//! Python, Node) computes the same fingerprint from the same secret; the
//! random secret keeps an attacker from choosing keys that collide. Only
//! fingerprints are stored, never names or addresses.
//!
//! Definition (version 1), with `H(x) = XXH3_64bits_withSecret(x, secret)`
//! and every key built from little-endian 64-bit words (`w(..)`):
//! - account digest `A = H(normalized account bytes)`;
//! - `account` key: `H(w(A, 1))`;
//! - `account_ip` key: `H(w(A, 2 | kind << 8, hi, lo))`;
//! - `device` key: `H(w(A, 3, H(device id)))`;
//! - `ip` key: `H(w(0xfe, kind, hi, lo))`;
//!
//! where the network's `kind` is its family (4 or 6) plus its prefix length
//! shifted left by 8, and `hi`, `lo` are its masked address (IPv4 in `lo`).
//! Whole words keep the hash's reads aligned with the writes that built them.

use unicode_normalization::UnicodeNormalization;
use xxhash_rust::xxh3::{xxh3_64_with_secret, Xxh3};

use crate::attempt::Network;
use crate::policy::AccountNormalize;

/// Bytes of secret.
pub(crate) const SECRET_BYTES: usize = 192;

#[derive(Clone)]
pub(crate) struct KeyHasher {
    secret: [u8; SECRET_BYTES],
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher { secret: <hidden> }")
    }
}

impl KeyHasher {
    pub(crate) fn new(secret: [u8; SECRET_BYTES]) -> KeyHasher {
        KeyHasher { secret }
    }

    fn hash(&self, bytes: &[u8]) -> u64 {
        xxh3_64_with_secret(bytes, &self.secret)
    }

    /// The account digest, or `None` when the account normalizes to nothing.
    pub(crate) fn account(&self, account: &str, mode: AccountNormalize) -> Option<u64> {
        match mode {
            AccountNormalize::Exact => (!account.is_empty()).then(|| self.hash(account.as_bytes())),
            AccountNormalize::Fold if account.is_ascii() => {
                // NFKC is the identity on ASCII; the trimmed set there is
                // TAB..CR, U+001C..U+001F and SPACE.
                let bytes = account.as_bytes();
                let white = |b: &u8| matches!(b, b'\t'..=b'\r' | 0x1c..=0x1f | b' ');
                let start = bytes.iter().position(|b| !white(b))?;
                let end = bytes.iter().rposition(|b| !white(b))?;
                let trimmed = &bytes[start..=end];
                if !trimmed.iter().any(u8::is_ascii_uppercase) {
                    return Some(self.hash(trimmed));
                }
                let mut h = Xxh3::with_secret(self.secret);
                let mut chunk = [0u8; 64];
                for part in trimmed.chunks(chunk.len()) {
                    let out = &mut chunk[..part.len()];
                    out.copy_from_slice(part);
                    out.make_ascii_lowercase();
                    h.update(out);
                }
                Some(h.digest())
            }
            AccountNormalize::Fold => self.folded(account.trim_matches(trimmed_by_fold)),
        }
    }

    /// NFKC, then lowercase, then trim [`trimmed_by_fold`], streamed without
    /// allocating: a first pass finds where the non-space characters end, a
    /// second hashes them.
    fn folded(&self, text: &str) -> Option<u64> {
        let folded = || text.nfkc().flat_map(char::to_lowercase);
        let mut first = None;
        let mut last = 0usize;
        for (i, c) in folded().enumerate() {
            if !trimmed_by_fold(c) {
                first.get_or_insert(i);
                last = i;
            }
        }
        let first = first?;
        let mut h = Xxh3::with_secret(self.secret);
        let mut buf = [0u8; 64];
        let mut len = 0;
        for c in folded().skip(first).take(last + 1 - first) {
            if len + 4 > buf.len() {
                h.update(&buf[..len]);
                len = 0;
            }
            len += c.encode_utf8(&mut buf[len..]).len();
        }
        h.update(&buf[..len]);
        Some(h.digest())
    }

    fn words<const N: usize>(&self, words: [u64; N]) -> u64 {
        let mut buf = [0u8; 32];
        for (chunk, w) in buf.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        self.hash(&buf[..N * 8])
    }

    /// The `account` key of an account digest.
    pub(crate) fn account_key(&self, account: u64) -> u64 {
        self.words([account, 1])
    }

    /// The `account_ip` key.
    pub(crate) fn account_ip_key(&self, account: u64, net: &Network) -> u64 {
        self.words([account, 2 | net.kind << 8, net.hi, net.lo])
    }

    /// The `device` key.
    pub(crate) fn device_key(&self, account: u64, device: &[u8]) -> u64 {
        self.words([account, 3, self.hash(device)])
    }

    /// The `ip` key.
    pub(crate) fn ip_key(&self, net: &Network) -> u64 {
        self.words([0xfe, net.kind, net.hi, net.lo])
    }

    /// The `ip_range` key: its own domain, so that it never equals the `ip`
    /// key of the same network (where the two prefixes are equal).
    pub(crate) fn ip_range_key(&self, net: &Network) -> u64 {
        self.words([0xfd, net.kind, net.hi, net.lo])
    }
}

/// What `fold` trims at both ends: Unicode White_Space, and what the
/// bindings' host languages also strip before a login form authenticates
/// (Python's `str.strip`: U+001C..U+001F; JavaScript's `trim`: U+FEFF), so
/// that no variant a framework authenticates as one user keys another.
pub(crate) fn trimmed_by_fold(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{1c}'..='\u{1f}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(s: &str) -> Option<u64> {
        KeyHasher::new([7; SECRET_BYTES]).account(s, AccountNormalize::Fold)
    }

    #[test]
    fn fold_matches_nfkc_lower_trim() {
        assert_eq!(fold("Alice"), fold("alice"));
        assert_eq!(fold("  ALICE\t"), fold("alice"));
        assert_eq!(fold("\u{3000}Ａｌｉｃｅ\u{00a0}"), fold("alice"));
        assert_eq!(fold("ÉLODIE"), fold("e\u{301}lodie"));
        assert_ne!(fold("alice"), fold("alice2"));
        assert_eq!(fold(" \u{2003} "), None);
        assert_eq!(fold(" \t\x0b\x0c\r\n"), None);
        assert_eq!(fold("\x0bAlice\x0c"), fold("alice"));
        assert_eq!(fold("\u{85}alice"), fold("alice")); // NEL: White_Space outside ASCII
                                                        // U+00B4 normalizes to a space and a combining accent: the space is trimmed.
        assert_eq!(fold("\u{b4}x"), fold("\u{301}x"));
        // What Python's str.strip and JavaScript's trim remove beyond White_Space.
        for c in ['\u{1c}', '\u{1d}', '\u{1e}', '\u{1f}', '\u{feff}'] {
            assert_eq!(fold(&format!("{c}alice{c}")), fold("alice"), "{c:?}");
            assert_eq!(fold(&format!("{c}élodie{c}")), fold("élodie"), "{c:?}");
            assert_ne!(fold(&format!("al{c}ice")), fold("alice"), "{c:?}");
        }
        let long = "Ab".repeat(300);
        assert_eq!(fold(&long), fold(&long.to_lowercase()));
    }

    proptest::proptest! {
        /// The ASCII short path keys exactly what the Unicode path keys.
        #[test]
        fn ascii_path_agrees_with_the_unicode_path(s in "[\\x00-\\x7f]{0,80}") {
            let k = KeyHasher::new([5; SECRET_BYTES]);
            let unicode = k.folded(s.trim_matches(trimmed_by_fold));
            proptest::prop_assert_eq!(k.account(&s, AccountNormalize::Fold), unicode);
        }
    }

    #[test]
    fn streaming_equals_one_shot() {
        let k = KeyHasher::new([3; SECRET_BYTES]);
        assert_eq!(
            k.account("ALICE", AccountNormalize::Fold),
            Some(k.hash(b"alice"))
        );
        assert_eq!(
            k.account("Ünï", AccountNormalize::Fold),
            Some(k.hash("ünï".as_bytes()))
        );
    }

    #[test]
    fn the_secret_keys_the_hash() {
        let secret = |k: u8| std::array::from_fn(|i| (i as u8).wrapping_mul(k).wrapping_add(k));
        for name in ["al", "alice", "alice@example.com", &"x".repeat(300)] {
            let a = KeyHasher::new(secret(7)).account(name, AccountNormalize::Fold);
            let b = KeyHasher::new(secret(13)).account(name, AccountNormalize::Fold);
            assert_ne!(a, b, "{name}");
        }
    }
}
