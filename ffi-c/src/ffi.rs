//! Every exported `lg_` function. This is the crate's only module with
//! `unsafe`: each body runs inside [`boundary`], so no panic crosses into C.

use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;

use loginguard::{Attempt, Error, Guard, IpInput, ManualClock, Policy};

use crate::types::{
    action_name, dimension_name, event_kind_name, lg_action, lg_attempt, lg_decision, lg_event,
    lg_inspection, lg_reason, lg_site_state, lg_stats, lg_status,
};

use lg_status::{
    LG_ERR_INVALID_ATTEMPT, LG_ERR_NOT_MANUAL_CLOCK, LG_ERR_NULL, LG_ERR_PANIC, LG_OK,
};

/// A login guard: the counters and the policy. Create it with `lg_guard_new`
/// (or a variant), share one pointer between threads, free it with `lg_guard_free`.
#[derive(Debug)]
pub struct lg_guard {
    guard: Guard,
    clock: Option<Arc<ManualClock>>,
}

/// Called with every event; `event` and what it points to are valid only during
/// the call. It runs on the thread whose `lg_` call caused the event.
pub type lg_event_fn = Option<unsafe extern "C" fn(event: *const lg_event, user_data: *mut c_void)>;

/// The panic boundary around every exported body: a caught panic is `LG_ERR_PANIC`.
fn boundary(body: impl FnOnce() -> Result<(), lg_status>) -> lg_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => LG_OK,
        Ok(Err(status)) => status,
        Err(_) => LG_ERR_PANIC,
    }
}

/// The panic boundary for the few exports that return a value, not a status.
fn boundary_or<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// A (pointer, length) input: `None` when the length is 0.
///
/// # Safety
/// `ptr` is NULL or valid for reading `len` bytes for `'a`.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Result<Option<&'a [u8]>, lg_status> {
    if len == 0 {
        return Ok(None);
    }
    if ptr.is_null() {
        return Err(LG_ERR_NULL);
    }
    // SAFETY: non-NULL and, by the caller's contract, valid for `len` bytes.
    Ok(Some(unsafe { std::slice::from_raw_parts(ptr, len) }))
}

fn utf8<'a>(b: Option<&'a [u8]>, what: &'static str) -> Result<Option<&'a str>, lg_status> {
    match b {
        None => Ok(None),
        // SAFETY: ASCII is UTF-8; `is_ascii` is the cheaper check for the common case.
        Some(b) if b.is_ascii() => Ok(Some(unsafe { std::str::from_utf8_unchecked(b) })),
        Some(b) => std::str::from_utf8(b)
            .map(Some)
            .map_err(|_| Error::InvalidUtf8(what).into()),
    }
}

/// # Safety
/// `guard` is NULL or a pointer from an `lg_guard_new*` function not yet freed.
unsafe fn guard_ref<'a>(guard: *const lg_guard) -> Result<&'a lg_guard, lg_status> {
    // SAFETY: by the caller's contract.
    unsafe { guard.as_ref() }.ok_or(LG_ERR_NULL)
}

/// # Safety
/// `attempt` is NULL or points to an `lg_attempt` whose buffers are valid for `'a`.
unsafe fn attempt_ref<'a>(attempt: *const lg_attempt) -> Result<Attempt<'a>, lg_status> {
    // SAFETY: by the caller's contract.
    let a = unsafe { attempt.as_ref() }.ok_or(LG_ERR_NULL)?;
    // SAFETY (all four): the attempt's pointers are valid for their lengths.
    let account = utf8(unsafe { bytes(a.account, a.account_len) }?, "account")?;
    let ip_text = utf8(unsafe { bytes(a.ip, a.ip_len) }?, "ip")?;
    let ip_bytes = unsafe { bytes(a.ip_bytes, a.ip_bytes_len) }?;
    let device = unsafe { bytes(a.device, a.device_len) }?;
    let ip = match (ip_text, ip_bytes) {
        (Some(_), Some(_)) => return Err(LG_ERR_INVALID_ATTEMPT),
        (Some(text), None) => Some(IpInput::Text(text)),
        (None, Some(raw)) => Some(IpInput::Bytes(raw)),
        (None, None) => None,
    };
    Ok(Attempt {
        account,
        ip,
        device,
    })
}

fn out<T>(ptr: *mut T) -> Result<NonNull<T>, lg_status> {
    NonNull::new(ptr).ok_or(LG_ERR_NULL)
}

/// Writes `msg` into `buf` (capacity `len`), cut at a character boundary so it
/// fits with its NUL. Nothing is written when `buf` is NULL or `len` is 0.
///
/// # Safety
/// `buf` is NULL or valid for writing `len` bytes.
unsafe fn write_message(buf: *mut c_char, len: usize, msg: &str) {
    if buf.is_null() || len == 0 {
        return;
    }
    let mut n = msg.len().min(len - 1);
    while !msg.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: `buf` is valid for `len` bytes and `n + 1 <= len`.
    unsafe {
        std::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), n);
        buf.add(n).write(0);
    }
}

/// Builds a guard; the error, if any, is returned with its full message.
///
/// # Safety
/// `toml` is NULL or valid for `toml_len` bytes.
unsafe fn build(
    toml: *const u8,
    toml_len: usize,
    manual_clock: bool,
) -> Result<Box<lg_guard>, (lg_status, String)> {
    let null = || {
        (
            LG_ERR_NULL,
            "policy: a NULL pointer with a non-zero length".to_string(),
        )
    };
    // SAFETY: by the caller's contract.
    let text = unsafe { bytes(toml, toml_len) }.map_err(|_| null())?;
    let policy = match text {
        None => Policy::default(),
        Some(b) => {
            let text = std::str::from_utf8(b).map_err(|_| Error::InvalidUtf8("policy"));
            text.and_then(Policy::from_toml)
                .map_err(|e| (lg_status::from(e.kind()), e.to_string()))?
        }
    };
    let clock = manual_clock.then(|| Arc::new(ManualClock::new()));
    let guard = match &clock {
        Some(c) => Guard::with_clock(policy, c.clone()),
        None => Guard::new(policy),
    }
    .map_err(|e| (lg_status::from(e.kind()), e.to_string()))?;
    Ok(Box::new(lg_guard { guard, clock }))
}

/// Creates a guard on the system clock (Unix epoch milliseconds) from a policy
/// in TOML (`toml`, `toml_len` bytes of UTF-8, not NUL-terminated; NULL and 0
/// for the default policy) and stores it in `*guard_out`.
///
/// Returns `LG_ERR_POLICY` for an invalid policy (use `lg_guard_new_with_message`
/// to learn which field), `LG_ERR_INVALID_UTF8`, `LG_ERR_NULL` or `LG_ERR_STORE`;
/// `*guard_out` is written only on success. The caller owns the guard and
/// frees it with `lg_guard_free`. Thread-safe.
///
/// # Safety
/// `toml` is NULL or valid for `toml_len` bytes; `guard_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_new(
    toml: *const u8,
    toml_len: usize,
    guard_out: *mut *mut lg_guard,
) -> lg_status {
    // SAFETY: the same contract.
    unsafe { lg_guard_new_with_message(toml, toml_len, false, guard_out, std::ptr::null_mut(), 0) }
}

/// Like `lg_guard_new`, but the guard reads a manual clock that starts at 0 ms
/// and moves only by `lg_guard_advance_ms`: for tests and simulations. The
/// caller owns the guard (`lg_guard_free`). Thread-safe.
///
/// # Safety
/// As `lg_guard_new`.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_new_manual_clock(
    toml: *const u8,
    toml_len: usize,
    guard_out: *mut *mut lg_guard,
) -> lg_status {
    // SAFETY: the same contract.
    unsafe { lg_guard_new_with_message(toml, toml_len, true, guard_out, std::ptr::null_mut(), 0) }
}

/// Like `lg_guard_new` (or `lg_guard_new_manual_clock` when `manual_clock` is
/// true), and on failure also writes the full error message, which names the
/// policy field at fault (e.g. "policy error in `account.lock_for`: ..."), into
/// `message` (capacity `message_len` bytes): always NUL-terminated, cut at a
/// character boundary when too long. `message` may be NULL (and `message_len` 0);
/// it is not written on success. The caller owns the guard and `message`.
/// Thread-safe.
///
/// # Safety
/// `toml` is NULL or valid for `toml_len` bytes; `guard_out` is NULL or writable;
/// `message` is NULL or writable for `message_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_new_with_message(
    toml: *const u8,
    toml_len: usize,
    manual_clock: bool,
    guard_out: *mut *mut lg_guard,
    message: *mut c_char,
    message_len: usize,
) -> lg_status {
    let status = boundary(|| {
        let dst = out(guard_out).inspect_err(|_| {
            // SAFETY: `message` is valid for `message_len` bytes by the contract.
            unsafe { write_message(message, message_len, "guard_out is NULL") };
        })?;
        // SAFETY: by the contract.
        match unsafe { build(toml, toml_len, manual_clock) } {
            Ok(guard) => {
                // SAFETY: `dst` is non-NULL and writable by the contract.
                unsafe { dst.as_ptr().write(Box::into_raw(guard)) };
                Ok(())
            }
            Err((status, msg)) => {
                // SAFETY: `message` is valid for `message_len` bytes by the contract.
                unsafe { write_message(message, message_len, &msg) };
                Err(status)
            }
        }
    });
    if status == LG_ERR_PANIC {
        // SAFETY: as above.
        unsafe { write_message(message, message_len, "internal error: a panic was caught") };
    }
    status
}

/// Frees a guard. `lg_guard_free(NULL)` does nothing. No other thread may be
/// using the guard, and the pointer must not be used afterwards.
///
/// # Safety
/// `guard` is NULL or a pointer from an `lg_guard_new*` function not yet freed.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_free(guard: *mut lg_guard) {
    boundary_or((), || {
        if !guard.is_null() {
            // SAFETY: it came from `Box::into_raw` in `lg_guard_new_with_message`
            // and, by the contract, is freed once.
            drop(unsafe { Box::from_raw(guard) });
        }
    });
}

/// Moves the manual clock of a guard made by `lg_guard_new_manual_clock` (or
/// `lg_guard_new_with_message` with `manual_clock`) on by `ms` milliseconds.
/// `LG_ERR_NOT_MANUAL_CLOCK` for a guard on the system clock. Thread-safe.
///
/// # Safety
/// `guard` is NULL or a live guard.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_advance_ms(guard: *const lg_guard, ms: u64) -> lg_status {
    boundary(|| {
        // SAFETY: by the contract.
        let g = unsafe { guard_ref(guard) }?;
        g.clock
            .as_ref()
            .ok_or(LG_ERR_NOT_MANUAL_CLOCK)?
            .advance_ms(ms);
        Ok(())
    })
}

/// Stores the guard clock's time in milliseconds (Unix epoch for the system
/// clock, from 0 for a manual clock) in `*now_ms_out`. Thread-safe.
///
/// # Safety
/// `guard` is NULL or a live guard; `now_ms_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_now_ms(
    guard: *const lg_guard,
    now_ms_out: *mut u64,
) -> lg_status {
    boundary(|| {
        // SAFETY: by the contract.
        let g = unsafe { guard_ref(guard) }?;
        let dst = out(now_ms_out)?;
        // SAFETY: non-NULL and writable by the contract.
        unsafe { dst.as_ptr().write(g.guard.now_ms()) };
        Ok(())
    })
}

/// The body every decision-returning function shares: check the pointers,
/// run `op`, write the decision only on success.
///
/// # Safety
/// As `lg_guard_check`.
unsafe fn decide(
    guard: *const lg_guard,
    attempt: *const lg_attempt,
    decision_out: *mut lg_decision,
    op: impl FnOnce(&loginguard::Guard, &Attempt<'_>) -> loginguard::Result<loginguard::Decision>,
) -> lg_status {
    boundary(|| {
        // SAFETY: by the contract.
        let (g, a) = unsafe { (guard_ref(guard)?, attempt_ref(attempt)?) };
        let dst = out(decision_out)?;
        let d = op(&g.guard, &a)?;
        // SAFETY: non-NULL and writable by the contract.
        unsafe { dst.as_ptr().write(d.into()) };
        Ok(())
    })
}

/// The pre-authentication decision for `attempt`; changes no counter. Writes
/// `*decision_out` only on success. Errors: `LG_ERR_NULL`,
/// `LG_ERR_INVALID_ATTEMPT`, `LG_ERR_INVALID_IP`, `LG_ERR_INVALID_UTF8`.
/// Thread-safe: one guard serves any number of threads without a lock.
///
/// # Safety
/// `guard` is NULL or a live guard; `attempt` is NULL or points to an
/// `lg_attempt` whose buffers are valid for their lengths; `decision_out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_check(
    guard: *const lg_guard,
    attempt: *const lg_attempt,
    decision_out: *mut lg_decision,
) -> lg_status {
    // SAFETY: the caller's contract is `decide`'s.
    unsafe { decide(guard, attempt, decision_out, |g, a| g.check(a)) }
}

/// The race-free pre-check for servers that verify passwords concurrently:
/// when the decision lets the password be checked (allow, or challenge with
/// `challenge_passed`, see `lg_decision_lets_password_be_checked`) it records
/// one failure in advance; after a successful login call
/// `lg_guard_record_success` with `after_begin` true. Writes `*decision_out`
/// only on success; on error nothing is recorded. Thread-safe.
///
/// # Safety
/// As `lg_guard_check`.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_begin(
    guard: *const lg_guard,
    attempt: *const lg_attempt,
    challenge_passed: bool,
    decision_out: *mut lg_decision,
) -> lg_status {
    // SAFETY: the caller's contract is `decide`'s.
    unsafe {
        decide(guard, attempt, decision_out, |g, a| {
            g.begin(a, challenge_passed)
        })
    }
}

/// Records a failed login and writes the decision the counters give after this
/// call's own update. On error nothing is recorded and `*decision_out` is not
/// written. Thread-safe: N threads on one key see failures exactly 1..N.
///
/// # Safety
/// As `lg_guard_check`.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_record_failure(
    guard: *const lg_guard,
    attempt: *const lg_attempt,
    decision_out: *mut lg_decision,
) -> lg_status {
    // SAFETY: the caller's contract is `decide`'s.
    unsafe { decide(guard, attempt, decision_out, |g, a| g.record_failure(a)) }
}

/// Records a successful login; `after_begin` true when `lg_guard_begin` already
/// recorded a failure in advance for it. On error nothing is recorded. Thread-safe.
///
/// # Safety
/// `guard` is NULL or a live guard; `attempt` is NULL or a valid `lg_attempt`.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_record_success(
    guard: *const lg_guard,
    attempt: *const lg_attempt,
    after_begin: bool,
) -> lg_status {
    boundary(|| {
        // SAFETY: by the contract.
        let (g, a) = unsafe { (guard_ref(guard)?, attempt_ref(attempt)?) };
        g.guard.record_success(&a, after_begin)?;
        Ok(())
    })
}

/// Clears every counter of an account (UTF-8, `account_len` bytes, not
/// NUL-terminated), `reset_required` included. Scans the table: an
/// administrative operation. Thread-safe.
///
/// # Safety
/// `guard` is NULL or a live guard; `account` is NULL or valid for `account_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_reset_account(
    guard: *const lg_guard,
    account: *const u8,
    account_len: usize,
) -> lg_status {
    boundary(|| {
        // SAFETY: by the contract.
        let g = unsafe { guard_ref(guard) }?;
        // SAFETY: by the contract.
        let account = utf8(unsafe { bytes(account, account_len) }?, "account")?;
        g.guard.reset_account(account.unwrap_or(""))?;
        Ok(())
    })
}

/// Clears a network's `ip` counter; the ip as text (UTF-8, `ip_len` bytes, not
/// NUL-terminated). Thread-safe.
///
/// # Safety
/// `guard` is NULL or a live guard; `ip` is NULL or valid for `ip_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_reset_ip(
    guard: *const lg_guard,
    ip: *const u8,
    ip_len: usize,
) -> lg_status {
    boundary(|| {
        // SAFETY: by the contract.
        let g = unsafe { guard_ref(guard) }?;
        // SAFETY: by the contract.
        let ip = utf8(unsafe { bytes(ip, ip_len) }?, "ip")?;
        g.guard.reset_ip(ip.unwrap_or(""))?;
        Ok(())
    })
}

/// Like `lg_guard_reset_ip`, the ip as 4 or 16 raw bytes in network order.
/// Thread-safe.
///
/// # Safety
/// `guard` is NULL or a live guard; `ip_bytes` is NULL or valid for `ip_bytes_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_reset_ip_bytes(
    guard: *const lg_guard,
    ip_bytes: *const u8,
    ip_bytes_len: usize,
) -> lg_status {
    boundary(|| {
        // SAFETY: by the contract.
        let g = unsafe { guard_ref(guard) }?;
        // SAFETY: by the contract.
        let raw = unsafe { bytes(ip_bytes, ip_bytes_len) }?;
        g.guard.reset_ip(raw.unwrap_or(&[]))?;
        Ok(())
    })
}

/// Every governing dimension's state and the decision `lg_guard_check` would
/// give, for support staff; changes nothing. Writes `*inspection_out` only on
/// success. Thread-safe.
///
/// # Safety
/// As `lg_guard_check`, with `inspection_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_inspect(
    guard: *const lg_guard,
    attempt: *const lg_attempt,
    inspection_out: *mut lg_inspection,
) -> lg_status {
    boundary(|| {
        // SAFETY: by the contract.
        let (g, a) = unsafe { (guard_ref(guard)?, attempt_ref(attempt)?) };
        let dst = out(inspection_out)?;
        let inspection = g.guard.inspect(&a)?;
        // SAFETY: non-NULL and writable by the contract.
        unsafe { dst.as_ptr().write((&inspection).into()) };
        Ok(())
    })
}

/// Capacity, occupancy, evictions, refused inserts, memory and decision counts.
/// Counting occupancy scans the table: call it from monitoring, not per
/// request. Writes `*stats_out` only on success. Thread-safe.
///
/// # Safety
/// `guard` is NULL or a live guard; `stats_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_stats(
    guard: *const lg_guard,
    stats_out: *mut lg_stats,
) -> lg_status {
    boundary(|| {
        // SAFETY: by the contract.
        let g = unsafe { guard_ref(guard) }?;
        let dst = out(stats_out)?;
        // SAFETY: non-NULL and writable by the contract.
        unsafe { dst.as_ptr().write(g.guard.stats().into()) };
        Ok(())
    })
}

/// The site-wide signal's state: rate, trigger, whether an attack is on and
/// since when (`enabled` false, the rest 0, when the policy has no `[site]`).
/// Writes `*site_out` only on success. Thread-safe.
///
/// # Safety
/// `guard` is NULL or a live guard; `site_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_site_state(
    guard: *const lg_guard,
    site_out: *mut lg_site_state,
) -> lg_status {
    boundary(|| {
        // SAFETY: by the contract.
        let g = unsafe { guard_ref(guard) }?;
        let dst = out(site_out)?;
        // SAFETY: non-NULL and writable by the contract.
        unsafe { dst.as_ptr().write(g.guard.site_state().into()) };
        Ok(())
    })
}

/// `user_data` as the listener holds it.
struct UserData(*mut c_void);

// SAFETY: the header requires `user_data` to be usable from any thread.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

impl UserData {
    fn get(&self) -> *mut c_void {
        self.0
    }
}

/// Calls `callback(event, user_data)` for every event from now on (a failure
/// taking a key past `challenge_after`, starting a lock or making it
/// reset_required; every reset), replacing any earlier listener; a NULL
/// `callback` removes it. The callback runs on the thread whose `lg_` call
/// caused the event, possibly on several threads at once, so it and
/// `user_data` must be thread-safe; it must not call `lg_guard_set_listener` or
/// `lg_guard_free` on the same guard. A call already under way on another
/// thread may still run after this returns: keep `user_data` alive until the
/// guard is freed. The guard does not own `user_data`.
///
/// # Safety
/// `guard` is NULL or a live guard; `callback` is NULL or a function that is
/// safe to call with any event and this `user_data` from any thread.
#[no_mangle]
pub unsafe extern "C" fn lg_guard_set_listener(
    guard: *const lg_guard,
    callback: lg_event_fn,
    user_data: *mut c_void,
) -> lg_status {
    boundary(|| {
        // SAFETY: by the contract.
        let g = unsafe { guard_ref(guard) }?;
        match callback {
            None => g.guard.clear_listener(),
            Some(f) => {
                let data = UserData(user_data);
                g.guard.set_listener(move |e| {
                    if let Some(event) = lg_event::from_core(e) {
                        // SAFETY: `event` lives across the call; `f` and `user_data`
                        // are thread-safe by the contract.
                        unsafe { f(&event, data.get()) };
                    }
                });
            }
        }
        Ok(())
    })
}

/// Whether a decision lets the password be checked: allow, or challenge when
/// the application verified the CAPTCHA (`challenge_passed`). False for NULL.
/// Thread-safe.
///
/// # Safety
/// `decision` is NULL or points to an `lg_decision`.
#[no_mangle]
pub unsafe extern "C" fn lg_decision_lets_password_be_checked(
    decision: *const lg_decision,
    challenge_passed: bool,
) -> bool {
    boundary_or(false, || {
        if decision.is_null() {
            return false;
        }
        // Read the action as a plain integer: C may have stored any value there.
        // SAFETY: non-NULL and readable by the contract; `action` is a u32 field.
        let raw = unsafe { std::ptr::addr_of!((*decision).action).cast::<u32>().read() };
        lg_action::from_raw(raw).is_some_and(|a| {
            loginguard::Decision {
                action: a,
                reason: None,
                retry_after_ms: None,
                failures: 0,
                degraded: false,
            }
            .lets_password_be_checked(challenge_passed)
        })
    })
}

/// A static, NUL-terminated description of a status value; never NULL, never
/// freed. Thread-safe.
#[no_mangle]
pub extern "C" fn lg_status_message(status: u32) -> *const c_char {
    boundary_or(c"internal error".as_ptr(), || {
        lg_status::message(status).as_ptr()
    })
}

/// The stable name of an action value (`"allow"`, `"challenge"`, `"deny"`,
/// `"reset_required"`; `"unknown"` otherwise): static, never NULL. Thread-safe.
#[no_mangle]
pub extern "C" fn lg_action_name(action: u32) -> *const c_char {
    boundary_or(c"unknown".as_ptr(), || action_name(action).as_ptr())
}

/// The stable name of a reason value (`"none"`, `"account"`, `"account_ip"`,
/// `"ip"`, `"device"`, `"denylist"`, `"ip_range"`, `"site"`; `"unknown"`
/// otherwise): static, never NULL.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn lg_reason_name(reason: u32) -> *const c_char {
    boundary_or(c"unknown".as_ptr(), || lg_reason::name(reason).as_ptr())
}

/// The stable name of a dimension value (`"account"`, `"account_ip"`, `"ip"`,
/// `"device"`, `"ip_range"`; `"unknown"` otherwise): static, never NULL. Thread-safe.
#[no_mangle]
pub extern "C" fn lg_dimension_name(dimension: u32) -> *const c_char {
    boundary_or(c"unknown".as_ptr(), || dimension_name(dimension).as_ptr())
}

/// The stable name of an event kind value (`"challenge"`, `"lock"`,
/// `"reset_required"`, `"reset_account"`, `"reset_ip"`, `"site_attack_started"`,
/// `"site_attack_ended"`; `"unknown"` otherwise):
/// static, never NULL. Thread-safe.
#[no_mangle]
pub extern "C" fn lg_event_kind_name(kind: u32) -> *const c_char {
    boundary_or(c"unknown".as_ptr(), || event_kind_name(kind).as_ptr())
}
