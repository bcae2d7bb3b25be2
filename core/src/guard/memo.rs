//! The keys of the last attempt each thread turned into keys, so that the
//! simple flow's `record_failure` (or `record_success`) of the attempt its
//! `check` just saw, and a brute force repeating one attempt, skip parsing,
//! normalizing and hashing.
//!
//! Keys are a pure function of the guard (its secret and its policy, both
//! fixed when it is built) and the attempt's bytes, so a hit is exact: the
//! memo matches on the guard's unique id and on the account's and the IP's
//! bytes compared in full, never on a digest or a pointer. Attempts with a
//! device, an account over [`ACCOUNT_BYTES`] or an IP text over [`IP_BYTES`]
//! are not memoized (they take the full path every time). One fixed-size
//! record per thread, made without allocating; it holds the last account and
//! IP as given, like the caller's own buffers did.

use std::cell::UnsafeCell;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::Keys;
use crate::attempt::{Attempt, IpInput};
use crate::decision::Dimension;
use crate::table::SlotKey;

/// Longest account memoized, in bytes.
const ACCOUNT_BYTES: usize = 64;
/// Longest IP text or raw address memoized, in bytes (IPv6 text is at most 45).
const IP_BYTES: usize = 48;

/// A new guard's id: never 0, never reused in the process.
pub(super) fn next_guard_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Relaxed)
}

/// How the attempt named its IP, in a form that compares by bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IpForm {
    None,
    Text,
    Bytes,
    V4,
    V6,
}

struct Last {
    /// The guard whose keys these are; 0 = nothing memoized.
    guard: u64,
    has_account: bool,
    account_len: usize,
    account: [u8; ACCOUNT_BYTES],
    ip_form: IpForm,
    ip_len: usize,
    ip: [u8; IP_BYTES],
    slots: [Option<SlotKey>; Dimension::ALL.len()],
    denied: bool,
    trusted: bool,
    ip_addr: Option<IpAddr>,
}

thread_local! {
    static LAST: UnsafeCell<Last> = const {
        UnsafeCell::new(Last {
            guard: 0,
            has_account: false,
            account_len: 0,
            account: [0; ACCOUNT_BYTES],
            ip_form: IpForm::None,
            ip_len: 0,
            ip: [0; IP_BYTES],
            slots: [None; Dimension::ALL.len()],
            denied: false,
            trusted: false,
            ip_addr: None,
        })
    };
}

/// The attempt's IP as (form, bytes), or `None` when it is not memoized.
fn ip_bytes<'a>(
    ip: &'a Option<IpInput<'a>>,
    octets: &'a mut [u8; 16],
) -> Option<(IpForm, &'a [u8])> {
    Some(match ip {
        None => (IpForm::None, &[][..]),
        Some(IpInput::Text(t)) if t.len() <= IP_BYTES => (IpForm::Text, t.as_bytes()),
        Some(IpInput::Bytes(b)) if b.len() <= IP_BYTES => (IpForm::Bytes, *b),
        Some(IpInput::Addr(IpAddr::V4(a))) => {
            octets[..4].copy_from_slice(&a.octets());
            (IpForm::V4, &octets[..4])
        }
        Some(IpInput::Addr(IpAddr::V6(a))) => {
            *octets = a.octets();
            (IpForm::V6, &octets[..])
        }
        Some(_) => return None,
    })
}

fn memoizable<'a>(attempt: &Attempt<'a>) -> bool {
    attempt.device.is_none() && attempt.account.is_none_or(|a| a.len() <= ACCOUNT_BYTES)
}

/// Fills `keys` from the memo when `guard` last turned this very attempt
/// into keys on this thread.
#[inline]
pub(super) fn recall<'a>(guard: u64, attempt: &Attempt<'a>, keys: &mut Keys<'a>) -> bool {
    if !memoizable(attempt) {
        return false;
    }
    let mut octets = [0u8; 16];
    let Some((form, ip)) = ip_bytes(&attempt.ip, &mut octets) else {
        return false;
    };
    LAST.with(|last| {
        // SAFETY: this thread's record, and no reference to it outlives
        // this closure, which calls nothing that could reach the memo again.
        let last = unsafe { &*last.get() };
        let account = attempt.account.unwrap_or("").as_bytes();
        let hit = last.guard == guard
            && last.has_account == attempt.account.is_some()
            && last.ip_form == form
            && same(&last.account, last.account_len, account)
            && same(&last.ip, last.ip_len, ip);
        if hit {
            keys.slots = last.slots;
            keys.denied = last.denied;
            keys.trusted = last.trusted;
            keys.ip = last.ip_addr;
            keys.account = attempt.account;
        }
        hit
    })
}

/// Whether the first `len` bytes of `stored` are `given`, eight at a time.
#[inline(always)]
fn same<const N: usize>(stored: &[u8; N], len: usize, given: &[u8]) -> bool {
    if len != given.len() || len > N {
        return false;
    }
    let word = |b: &[u8]| u64::from_ne_bytes(b.try_into().expect("8 bytes"));
    let mut diff = 0;
    let mut chunks = given.chunks_exact(8);
    for (i, chunk) in chunks.by_ref().enumerate() {
        diff |= word(chunk) ^ word(&stored[i * 8..i * 8 + 8]);
    }
    let tail = chunks.remainder();
    let start = len - tail.len();
    for (a, b) in tail.iter().zip(&stored[start..len]) {
        diff |= u64::from(a ^ b);
    }
    diff == 0
}

/// Memoizes the keys `guard` made of `attempt`.
#[inline]
pub(super) fn remember(guard: u64, attempt: &Attempt<'_>, keys: &Keys<'_>) {
    if !memoizable(attempt) {
        return;
    }
    let mut octets = [0u8; 16];
    let Some((form, ip)) = ip_bytes(&attempt.ip, &mut octets) else {
        return;
    };
    LAST.with(|last| {
        // SAFETY: as in `recall`.
        let last = unsafe { &mut *last.get() };
        let account = attempt.account.unwrap_or("").as_bytes();
        last.guard = guard;
        last.has_account = attempt.account.is_some();
        last.account_len = account.len();
        last.account[..account.len()].copy_from_slice(account);
        last.ip_form = form;
        last.ip_len = ip.len();
        last.ip[..ip.len()].copy_from_slice(ip);
        last.slots = keys.slots;
        last.denied = keys.denied;
        last.trusted = keys.trusted;
        last.ip_addr = keys.ip;
    });
}
