//! An [`Attempt`] (who, from where, on which device) and how it becomes keys:
//! account normalization, network prefixes and keyed fingerprints.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use siphasher::sip128::{Hasher128, SipHasher13};
use std::hash::Hasher;
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};
use crate::policy::AccountNormalize;

/// Longest account accepted, in bytes as given.
pub const MAX_ACCOUNT_BYTES: usize = 1024;
/// Longest device id accepted, in bytes.
pub const MAX_DEVICE_BYTES: usize = 256;

/// How an attempt names its IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpInput<'a> {
    /// IPv4 or IPv6 text, as a login form or a proxy header delivers it.
    Text(&'a str),
    /// 4 or 16 raw bytes in network order, as a `sockaddr` holds them.
    Bytes(&'a [u8]),
    /// An address already parsed.
    Addr(IpAddr),
}

/// One login attempt: who (`account`), from where (`ip`), and optionally a
/// `device` the application already trusts for this account. Empty values
/// count as absent. Building an attempt never fails; the guard validates it.
///
/// ```
/// use loginguard::Attempt;
/// let a = Attempt::new().account("alice").ip("203.0.113.7");
/// let on_device = Attempt::new().account("alice").device("cookie-id-1");
/// # let _ = (a, on_device);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attempt<'a> {
    /// The account name as typed.
    pub account: Option<&'a str>,
    /// The client's address.
    pub ip: Option<IpInput<'a>>,
    /// The id of a device trusted for this account (from a verified device cookie).
    pub device: Option<&'a [u8]>,
}

impl<'a> Attempt<'a> {
    /// An attempt with nothing set.
    pub const fn new() -> Self {
        Attempt {
            account: None,
            ip: None,
            device: None,
        }
    }

    /// Sets the account name.
    pub const fn account(mut self, account: &'a str) -> Self {
        self.account = Some(account);
        self
    }

    /// Sets the IP from text (`"203.0.113.7"`, `"2001:db8::1"`).
    pub const fn ip(mut self, ip: &'a str) -> Self {
        self.ip = Some(IpInput::Text(ip));
        self
    }

    /// Sets the IP from 4 or 16 raw bytes in network order.
    pub const fn ip_bytes(mut self, ip: &'a [u8]) -> Self {
        self.ip = Some(IpInput::Bytes(ip));
        self
    }

    /// Sets the IP from a parsed address.
    pub const fn ip_addr(mut self, ip: IpAddr) -> Self {
        self.ip = Some(IpInput::Addr(ip));
        self
    }

    /// Sets the trusted device's id.
    pub fn device<D: AsRef<[u8]> + ?Sized>(mut self, device: &'a D) -> Self {
        self.device = Some(device.as_ref());
        self
    }
}

/// Parses an IP given in any form; `Ok(None)` when it is absent (empty).
/// IPv4-mapped IPv6 becomes IPv4.
pub(crate) fn parse_ip(ip: Option<IpInput<'_>>) -> Result<Option<IpAddr>> {
    let addr = match ip {
        None => return Ok(None),
        Some(IpInput::Text("")) | Some(IpInput::Bytes([])) => return Ok(None),
        Some(IpInput::Text(text)) => text.parse::<IpAddr>().map_err(|_| {
            let shown: String = text.chars().take(64).collect();
            Error::InvalidIp(format!("{shown:?} is not an IPv4 or IPv6 address"))
        })?,
        Some(IpInput::Bytes(b)) => match b.len() {
            4 => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
            16 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(b);
                IpAddr::V6(Ipv6Addr::from(octets))
            }
            n => {
                return Err(Error::InvalidIp(format!(
                    "raw addresses are 4 or 16 bytes, got {n}"
                )))
            }
        },
        Some(IpInput::Addr(a)) => a,
    };
    Ok(Some(canonical(addr)))
}

fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The network an address belongs to, as key bytes: family, prefix, masked address.
pub(crate) fn network_bytes(addr: IpAddr, v4_prefix: u8, v6_prefix: u8) -> ([u8; 18], usize) {
    let mut out = [0u8; 18];
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let mask = u32::MAX.checked_shl(32 - u32::from(v4_prefix)).unwrap_or(0);
            out[0] = 4;
            out[1] = v4_prefix;
            out[2..6].copy_from_slice(&(bits & mask).to_be_bytes());
            (out, 6)
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let mask = u128::MAX.checked_shl(128 - u32::from(v6_prefix)).unwrap_or(0);
            out[0] = 6;
            out[1] = v6_prefix;
            out[2..18].copy_from_slice(&(bits & mask).to_be_bytes());
            (out, 18)
        }
    }
}

/// Streams the normalized account into `hasher`; returns false when it
/// normalizes to nothing (the account is then absent).
pub(crate) fn hash_account(hasher: &mut SipHasher13, account: &str, mode: AccountNormalize) -> bool {
    match mode {
        AccountNormalize::Exact => {
            hasher.write(account.as_bytes());
            !account.is_empty()
        }
        AccountNormalize::Fold => {
            let trimmed = account.trim_matches(char::is_whitespace);
            if trimmed.is_ascii() {
                // NFKC is the identity on ASCII; only lowercasing remains.
                let mut chunk = [0u8; 64];
                for part in trimmed.as_bytes().chunks(chunk.len()) {
                    let out = &mut chunk[..part.len()];
                    out.copy_from_slice(part);
                    out.make_ascii_lowercase();
                    hasher.write(out);
                }
                !trimmed.is_empty()
            } else {
                hash_folded(hasher, trimmed)
            }
        }
    }
}

/// NFKC, then lowercase, then trim White_Space, streamed without allocating:
/// a first pass finds where the non-space characters end, a second writes them.
fn hash_folded(hasher: &mut SipHasher13, text: &str) -> bool {
    let folded = || text.nfkc().flat_map(char::to_lowercase);
    let mut first = None;
    let mut last = 0usize;
    for (i, c) in folded().enumerate() {
        if !c.is_whitespace() {
            first.get_or_insert(i);
            last = i;
        }
    }
    let Some(first) = first else { return false };
    let mut buf = [0u8; 64];
    let mut len = 0;
    for c in folded().skip(first).take(last + 1 - first) {
        if len + 4 > buf.len() {
            hasher.write(&buf[..len]);
            len = 0;
        }
        len += c.encode_utf8(&mut buf[len..]).len();
    }
    hasher.write(&buf[..len]);
    true
}

/// A key's 128-bit keyed fingerprint (SipHash-1-3, fixed definition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub(crate) h1: u64,
    pub(crate) h2: u64,
}

pub(crate) fn finish(hasher: SipHasher13) -> Fingerprint {
    let h = hasher.finish128();
    Fingerprint { h1: h.h1, h2: h.h2 }
}

/// Separators: neither byte occurs in UTF-8, so keys of different shapes never meet.
pub(crate) const END_OF_ACCOUNT: u8 = 0xff;
pub(crate) const NETWORK_KEY: u8 = 0xfe;

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(s: &str) -> Option<Fingerprint> {
        let mut h = SipHasher13::new_with_keys(1, 2);
        hash_account(&mut h, s, AccountNormalize::Fold).then(|| finish(h))
    }

    #[test]
    fn fold_matches_nfkc_lower_trim() {
        assert_eq!(fold("Alice"), fold("alice"));
        assert_eq!(fold("  ALICE\t"), fold("alice"));
        assert_eq!(fold("\u{3000}Ａｌｉｃｅ\u{00a0}"), fold("alice"));
        assert_eq!(fold("ÉLODIE"), fold("e\u{301}lodie"));
        assert_ne!(fold("alice"), fold("alice2"));
        assert_eq!(fold(" \u{2003} "), None);
        // U+00B4 normalizes to a space and a combining accent: the space is trimmed.
        assert_eq!(fold("\u{b4}x"), fold("\u{301}x"));
    }

    #[test]
    fn mapped_ipv6_is_ipv4() {
        let a = parse_ip(Some(IpInput::Text("::ffff:203.0.113.7"))).unwrap();
        assert_eq!(a, Some("203.0.113.7".parse().unwrap()));
        assert!(parse_ip(Some(IpInput::Bytes(&[1, 2, 3]))).is_err());
        assert!(parse_ip(Some(IpInput::Text("1.2.3"))).is_err());
        assert_eq!(parse_ip(Some(IpInput::Text(""))).unwrap(), None);
    }

    #[test]
    fn networks_mask_to_prefix() {
        let a = network_bytes("2001:db8::1".parse().unwrap(), 32, 64);
        let b = network_bytes("2001:db8::ffff:1".parse().unwrap(), 32, 64);
        let c = network_bytes("2001:db8:0:1::1".parse().unwrap(), 32, 64);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let d = network_bytes("10.1.2.3".parse().unwrap(), 24, 64);
        let e = network_bytes("10.1.2.200".parse().unwrap(), 24, 64);
        assert_eq!(d, e);
        assert_eq!(network_bytes("10.1.2.3".parse().unwrap(), 0, 64).0[2..6], [0; 4]);
    }
}
