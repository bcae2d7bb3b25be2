//! An [`Attempt`] (who, from where, on which device) and how it becomes keys:
//! account normalization, network prefixes and keyed fingerprints.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};

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
        Some(IpInput::Text(text)) => match dotted_quad(text.as_bytes()) {
            Some(v4) => IpAddr::V4(v4),
            None => text.parse::<IpAddr>().map_err(|_| {
                let shown: String = text.chars().take(64).collect();
                Error::InvalidIp(format!("{shown:?} is not an IPv4 or IPv6 address"))
            })?,
        },
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

/// The common case, an IPv4 address in the strict dotted-quad form that the
/// standard parser accepts (four decimal octets up to 255, no leading
/// zeros), read in a few instructions; `None` for anything else, which then
/// goes to the standard parser.
#[inline]
fn dotted_quad(s: &[u8]) -> Option<Ipv4Addr> {
    if !(7..=15).contains(&s.len()) {
        return None;
    }
    // Padded with a byte that is neither a digit nor a dot, so that every
    // read below is in bounds without a check: octet by octet, the first
    // digit, then at most two more (none after a leading zero).
    let b = padded(s);
    let digit = |i: usize| u32::from(b[i & 15].wrapping_sub(b'0'));
    let mut addr = 0u32;
    let mut i = 0;
    for n in 0..4 {
        if n > 0 {
            if b[i & 15] != b'.' {
                return None;
            }
            i += 1;
        }
        let mut value = digit(i);
        if value > 9 {
            return None;
        }
        i += 1;
        if value != 0 {
            let d = digit(i);
            if d <= 9 {
                value = value * 10 + d;
                i += 1;
                let d = digit(i);
                if d <= 9 {
                    value = value * 10 + d;
                    i += 1;
                    if value > 255 {
                        return None;
                    }
                }
            }
        }
        addr = addr << 8 | value;
    }
    (i == s.len()).then(|| Ipv4Addr::from(addr))
}

/// 7 to 15 bytes as 16, the rest `/`, from overlapping 4- or 8-byte reads
/// (no byte loop, no call to copy).
#[inline(always)]
fn padded(s: &[u8]) -> [u8; 16] {
    const PAD: u64 = u64::from_ne_bytes([b'/'; 8]);
    let n = s.len();
    debug_assert!((7..=15).contains(&n));
    let read8 = |at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let read4 = |at: usize| {
        u64::from(u32::from_le_bytes(
            s[at..at + 4].try_into().expect("4 bytes"),
        ))
    };
    let (lo, hi) = if n >= 8 {
        // Bytes 8..n sit at the top of the last eight; `/` above them.
        let tail = read8(n - 8).checked_shr(8 * (16 - n) as u32).unwrap_or(0);
        (read8(0), tail | PAD << (8 * (n - 8)))
    } else {
        (read4(0) | read4(3) << 24 | u64::from(b'/') << 56, PAD)
    };
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&lo.to_le_bytes());
    b[8..].copy_from_slice(&hi.to_le_bytes());
    b
}

fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The network an address belongs to: the address masked to its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Network {
    /// Family (4 or 6) in the low byte, prefix length in the next.
    pub(crate) kind: u64,
    /// The masked address, high and low 64 bits (IPv4 in the low word).
    pub(crate) hi: u64,
    pub(crate) lo: u64,
}

pub(crate) fn network_of(addr: IpAddr, v4_prefix: u8, v6_prefix: u8) -> Network {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(v4_prefix)).unwrap_or(0);
            Network {
                kind: 4 | u64::from(v4_prefix) << 8,
                hi: 0,
                lo: u64::from(u32::from(a) & mask),
            }
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(v6_prefix))
                .unwrap_or(0);
            let bits = u128::from(a) & mask;
            Network {
                kind: 6 | u64::from(v6_prefix) << 8,
                hi: (bits >> 64) as u64,
                lo: bits as u64,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ipv6_is_ipv4() {
        let a = parse_ip(Some(IpInput::Text("::ffff:203.0.113.7"))).unwrap();
        assert_eq!(a, Some("203.0.113.7".parse().unwrap()));
        assert!(parse_ip(Some(IpInput::Bytes(&[1, 2, 3]))).is_err());
        assert!(parse_ip(Some(IpInput::Text("1.2.3"))).is_err());
        assert_eq!(parse_ip(Some(IpInput::Text(""))).unwrap(), None);
    }

    proptest::proptest! {
        #[test]
        fn dotted_quad_agrees_with_the_standard_parser(s in "[0-9.]{0,17}|[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}") {
            let ours = parse_ip(Some(IpInput::Text(&s))).ok().flatten();
            let std = if s.is_empty() { None } else { s.parse::<IpAddr>().ok() };
            proptest::prop_assert_eq!(ours, std);
            if let Some(v4) = dotted_quad(s.as_bytes()) {
                proptest::prop_assert_eq!(Some(IpAddr::V4(v4)), std);
            }
        }
    }

    #[test]
    fn networks_mask_to_prefix() {
        let net = |a: &str, v4, v6| network_of(a.parse().unwrap(), v4, v6);
        assert_eq!(net("2001:db8::1", 32, 64), net("2001:db8::ffff:1", 32, 64));
        assert_ne!(net("2001:db8::1", 32, 64), net("2001:db8:0:1::1", 32, 64));
        assert_eq!(net("10.1.2.3", 24, 64), net("10.1.2.200", 24, 64));
        assert_ne!(net("10.1.2.3", 24, 64), net("10.1.3.3", 24, 64));
        assert_eq!(net("10.1.2.3", 0, 64).lo, 0);
        assert_ne!(net("10.1.2.3", 32, 64), net("10.1.2.3", 24, 64));
    }
}
