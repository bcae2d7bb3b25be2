//! Every `lg_` entry point fed attempts built from arbitrary bytes (any length,
//! invalid UTF-8, NULL pointers with lengths, odd ip byte counts): never a panic
//! or a memory error, outputs written only on success, statuses in range.
#![no_main]

use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::ptr;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use loginguard_ffi::*;

const POLICIES: [&str; 4] = [
    "[store]\ncapacity = 64\n",
    "account_normalize = \"exact\"\n[store]\ncapacity = 16\n[account]\nlock_after = 1\nlock_for = \"1s\"\nreset_after = 3\n",
    "deny_cidrs = [\"10.0.0.0/8\"]\nallow_cidrs = [\"192.0.2.0/24\"]\n[store]\ncapacity = 32\n[ip]\nchallenge_after = 0\n",
    "ipv6_prefix = 48\n[store]\ncapacity = 8\n[device]\nlock_after = 0\n",
];

/// A (pointer, length) field: absent, NULL with a length, or bytes from the input.
fn field<'a>(u: &mut Unstructured<'a>, max: usize) -> Result<(*const u8, usize)> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => (ptr::null(), 0),
        1 => (ptr::null(), u.int_in_range(1..=max)?),
        _ => {
            let len = u.int_in_range(0..=max)?;
            let b = u.bytes(len.min(u.len()))?;
            (b.as_ptr(), b.len())
        }
    })
}

fn attempt(u: &mut Unstructured<'_>) -> Result<lg_attempt> {
    let (account, account_len) = field(u, 1100)?;
    let (ip, ip_len) = if u.arbitrary()? {
        field(u, 48)?
    } else {
        (ptr::null(), 0)
    };
    let (ip_bytes, ip_bytes_len) = if u.arbitrary()? {
        field(u, 17)?
    } else {
        (ptr::null(), 0)
    };
    let (device, device_len) = if u.arbitrary()? {
        field(u, 300)?
    } else {
        (ptr::null(), 0)
    };
    Ok(lg_attempt {
        account,
        account_len,
        ip,
        ip_len,
        ip_bytes,
        ip_bytes_len,
        device,
        device_len,
    })
}

unsafe extern "C" fn listener(event: *const lg_event, user_data: *mut c_void) {
    // SAFETY: the library passes a live event and our counter.
    let (e, seen) = unsafe { (&*event, &mut *user_data.cast::<u64>()) };
    if e.account_len > 0 {
        // SAFETY: valid during the callback; reading it lets a sanitizer check that.
        let account = unsafe { std::slice::from_raw_parts(e.account, e.account_len) };
        assert!(std::str::from_utf8(account).is_ok());
    }
    assert!(matches!(e.ip_bytes_len, 0 | 4 | 16));
    assert!(e.ip.contains(&0));
    *seen += 1;
}

fn assert_status(s: lg_status) {
    assert!((s as u32) <= 9, "status out of range");
    assert_ne!(s, lg_status::LG_ERR_PANIC);
}

/// Calls `f` with an output pre-filled with a pattern; checks it is untouched on error.
fn with_out<T: Copy>(f: impl FnOnce(*mut T) -> lg_status) -> Option<T> {
    let mut out = MaybeUninit::<T>::uninit();
    // SAFETY: any byte pattern is fine in a MaybeUninit.
    unsafe { ptr::write_bytes(out.as_mut_ptr().cast::<u8>(), 0xA5, size_of::<T>()) };
    let s = f(out.as_mut_ptr());
    assert_status(s);
    // SAFETY: `out` is a plain buffer of size_of::<T>() bytes.
    let bytes = unsafe { std::slice::from_raw_parts(out.as_ptr().cast::<u8>(), size_of::<T>()) };
    if s != lg_status::LG_OK {
        assert!(bytes.iter().all(|b| *b == 0xA5), "output written on error");
        return None;
    }
    // SAFETY: written on success.
    Some(unsafe { out.assume_init() })
}

fn check_decision(d: &lg_decision) {
    assert!((d.action as u32) <= 3 && (d.reason as u32) <= 5);
    assert_eq!(
        d.has_retry,
        d.action == lg_action::LG_ACTION_DENY && d.reason != lg_reason::LG_REASON_DENYLIST
    );
    assert_eq!(
        d.action == lg_action::LG_ACTION_ALLOW,
        d.reason == lg_reason::LG_REASON_NONE
    );
}

fn run(u: &mut Unstructured<'_>, g: *mut lg_guard) -> Result<()> {
    while !u.is_empty() {
        let a = attempt(u)?;
        let passed: bool = u.arbitrary()?;
        let guard: *const lg_guard = if u.ratio(1u8, 40)? { ptr::null() } else { g };
        let at: *const lg_attempt = if u.ratio(1u8, 40)? { ptr::null() } else { &a };
        // SAFETY (every call below): the guard is live or NULL, the attempt's
        // buffers are valid for their lengths or NULL, outputs are writable.
        match u.int_in_range(0u8..=13)? {
            0 => with_out(|o| unsafe { lg_guard_check(guard, at, o) })
                .iter()
                .for_each(check_decision),
            1 => with_out(|o| unsafe { lg_guard_begin(guard, at, passed, o) })
                .iter()
                .for_each(check_decision),
            2 | 3 => with_out(|o| unsafe { lg_guard_record_failure(guard, at, o) })
                .iter()
                .for_each(check_decision),
            4 => assert_status(unsafe { lg_guard_record_success(guard, at, passed) }),
            5 => assert_status(unsafe { lg_guard_reset_account(guard, a.account, a.account_len) }),
            6 => assert_status(unsafe { lg_guard_reset_ip(guard, a.ip, a.ip_len) }),
            7 => {
                assert_status(unsafe { lg_guard_reset_ip_bytes(guard, a.ip_bytes, a.ip_bytes_len) })
            }
            8 => {
                if let Some(i) = with_out(|o| unsafe { lg_guard_inspect(guard, at, o) }) {
                    check_decision(&i.decision);
                    assert!(i.dimensions_len <= LG_MAX_DIMENSIONS);
                }
            }
            9 => {
                if let Some(st) = with_out(|o| unsafe { lg_guard_stats(guard, o) }) {
                    assert!(st.occupancy <= st.capacity);
                }
            }
            10 => assert_status(unsafe {
                lg_guard_advance_ms(guard, u.int_in_range(0..=u64::MAX >> 20)?)
            }),
            11 => {
                let _ = with_out(|o| unsafe { lg_guard_now_ms(guard, o) });
            }
            12 => {
                let d = lg_decision {
                    action: lg_action::LG_ACTION_CHALLENGE,
                    reason: lg_reason::LG_REASON_ACCOUNT,
                    has_retry: false,
                    retry_after_ms: 0,
                    failures: 0,
                    degraded: false,
                };
                // SAFETY: a live decision.
                assert_eq!(
                    unsafe { lg_decision_lets_password_be_checked(&d, passed) },
                    passed
                );
                let raw: u32 = u.arbitrary()?;
                for p in [
                    lg_status_message(raw),
                    lg_action_name(raw),
                    lg_reason_name(raw),
                    lg_dimension_name(raw),
                ] {
                    assert!(!p.is_null());
                }
            }
            _ => {
                // A NULL output: an error, and nothing recorded (checked by the next stats).
                assert_status(unsafe { lg_guard_record_failure(guard, at, ptr::null_mut()) });
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let policy = POLICIES[u.choose_index(POLICIES.len()).unwrap_or(0)];
    let mut g = ptr::null_mut();
    // SAFETY: a valid policy buffer and a writable output.
    let s = unsafe { lg_guard_new_manual_clock(policy.as_ptr(), policy.len(), &mut g) };
    assert_eq!(s, lg_status::LG_OK);
    let mut seen = 0u64;
    // SAFETY: `listener` handles any event; `seen` outlives the guard.
    let s = unsafe { lg_guard_set_listener(g, Some(listener), (&mut seen as *mut u64).cast()) };
    assert_eq!(s, lg_status::LG_OK);
    let _ = run(&mut u, g);
    // SAFETY: made above, freed once.
    unsafe { lg_guard_free(g) };
});
