//! The hot path (`check`, `begin`, `recordFailure`) as plain Node-API callbacks:
//! the generated glue costs several times the decision itself per call. Each
//! guard gets its own three functions whose callback data is its `Core`.
//! Every `unsafe` block of the crate lives in this module.

use std::ffi::{c_void, CString};
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use loginguard::{Attempt, IpInput};
use napi::bindgen_prelude::{ToNapiValue, Unknown};
use napi::{sys, Env};

use crate::convert::{self, Decision};
use crate::error::{Code, Error};
use crate::Core;

#[derive(Debug, Clone, Copy)]
enum Op {
    Check,
    Begin,
    RecordFailure,
}

/// What each function's callback data points to (freed with the function).
#[derive(Debug)]
struct Bound {
    core: Arc<Core>,
    op: Op,
}

/// Strings shorter than this many UTF-16 units are read in one Node-API call.
const UNITS: usize = 256;
/// Room for `UNITS` units as UTF-8, and for any account the core accepts (1024 bytes).
const BYTES: usize = 1032;

/// One argument as given: absent, text or bytes, borrowed for the call.
#[derive(Debug, Clone, Copy)]
enum Arg<'a> {
    Absent,
    Text(&'a str),
    Bytes(&'a [u8]),
}

/// Makes `{ check, begin, recordFailure }` for `core`.
pub fn functions<'env>(env: &'env Env, core: &Arc<Core>) -> napi::Result<Unknown<'env>> {
    let env = env.raw();
    let mut object = ptr::null_mut();
    // SAFETY: `env` is the live environment of the current call.
    check(unsafe { sys::napi_create_object(env, &mut object) })?;
    for (name, op) in [
        (c"check", Op::Check),
        (c"begin", Op::Begin),
        (c"recordFailure", Op::RecordFailure),
    ] {
        let data = Box::into_raw(Box::new(Bound {
            core: core.clone(),
            op,
        }))
        .cast::<c_void>();
        let mut function = ptr::null_mut();
        // SAFETY: `name` is NUL-terminated; `data` stays valid until the finalizer
        // below frees it, which Node runs only once the function is unreachable.
        unsafe {
            check(sys::napi_create_function(
                env,
                name.as_ptr(),
                name.to_bytes().len() as isize,
                Some(call),
                data,
                &mut function,
            ))?;
            check(sys::napi_add_finalizer(
                env,
                function,
                data,
                Some(free_bound),
                ptr::null_mut(),
                ptr::null_mut(),
            ))?;
            check(sys::napi_set_named_property(
                env,
                object,
                name.as_ptr(),
                function,
            ))?;
        }
    }
    // SAFETY: `object` was created above in this environment.
    Ok(unsafe { Unknown::from_raw_unchecked(env, object) })
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!(
            "Node-API call failed with status {status}"
        )))
    }
}

unsafe extern "C" fn free_bound(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` came from `Box::into_raw` in `functions`, and Node finalizes once.
    drop(unsafe { Box::from_raw(data.cast::<Bound>()) });
}

unsafe extern "C" fn call(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: Node calls this with a live `env` and `info` on the JS thread.
        unsafe { decide(env, info) }
    }));
    match outcome {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => throw(env, e.status.as_ref(), &e.reason),
        Err(_) => throw(
            env,
            "ERR_LOGINGUARD_PANIC",
            "loginguard panicked; the decision was not made",
        ),
    }
}

fn throw(env: sys::napi_env, code: &str, message: &str) -> sys::napi_value {
    let code = CString::new(code).unwrap_or_default();
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // SAFETY: both strings are NUL-terminated and outlive the call.
    unsafe { sys::napi_throw_error(env, code.as_ptr(), message.as_ptr()) };
    ptr::null_mut()
}

fn type_error(name: &str, expected: &str) -> Error {
    crate::error::new(Code::Type, format!("{name} must be {expected}"))
}

fn internal(what: &str) -> Error {
    crate::error::new(Code::Internal, format!("Node-API failed: {what}"))
}

/// SAFETY: `env` and `info` must come from Node for the current call.
unsafe fn decide(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> Result<sys::napi_value, Error> {
    let mut argc = 4usize;
    let mut argv = [ptr::null_mut(); 4];
    let mut data = ptr::null_mut();
    // SAFETY: `argv` has room for `argc` values; missing arguments read as `undefined`.
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            &mut data,
        )
    };
    if status != sys::Status::napi_ok || data.is_null() {
        return Err(internal("napi_get_cb_info"));
    }
    // SAFETY: `data` is the `Bound` this function was created with; it lives as long as the function.
    let bound = unsafe { &*data.cast::<Bound>() };
    // `begin(account, ip, challengePassed, device?)`, the others `(account, ip, device?)`.
    let device_at = match bound.op {
        Op::Begin => 3,
        Op::Check | Op::RecordFailure => 2,
    };

    // Uninitialized: zeroing them would cost more than copying a short string in.
    let mut units = [MaybeUninit::<u16>::uninit(); UNITS];
    let mut account_stack = [MaybeUninit::<u8>::uninit(); BYTES];
    let mut ip_stack = [MaybeUninit::<u8>::uninit(); BYTES];
    let mut device_stack = [MaybeUninit::<u8>::uninit(); BYTES];
    let (mut account_heap, mut ip_heap, mut device_heap) = (Vec::new(), Vec::new(), Vec::new());
    // SAFETY: the arguments are live values of this call.
    let (account, ip, device) = unsafe {
        (
            read(
                env,
                argv[0],
                &mut units,
                &mut account_stack,
                &mut account_heap,
                "account",
                false,
            )?,
            read(
                env,
                argv[1],
                &mut units,
                &mut ip_stack,
                &mut ip_heap,
                "ip",
                true,
            )?,
            // Passed only when given: an absent device costs no Node-API call.
            if argc > device_at {
                read(
                    env,
                    argv[device_at],
                    &mut units,
                    &mut device_stack,
                    &mut device_heap,
                    "device",
                    true,
                )?
            } else {
                Arg::Absent
            },
        )
    };
    let attempt = Attempt {
        account: match account {
            Arg::Text(s) => Some(s),
            _ => None,
        },
        ip: match ip {
            Arg::Absent => None,
            Arg::Text(s) => Some(IpInput::Text(s)),
            Arg::Bytes(b) => Some(IpInput::Bytes(b)),
        },
        device: match device {
            Arg::Absent => None,
            Arg::Text(s) => Some(s.as_bytes()),
            Arg::Bytes(b) => Some(b),
        },
    };
    let guard = &bound.core.guard;
    let decision = match bound.op {
        Op::Check => guard.check(&attempt),
        // SAFETY: a live argument of this call.
        Op::Begin => guard.begin(&attempt, unsafe { flag(env, argv[2], "challengePassed")? }),
        Op::RecordFailure => guard.record_failure(&attempt),
    }
    .map_err(crate::error::from_core)?;

    let events = bound.core.listening.load(Relaxed) && bound.core.has_pending();
    let mut out = ptr::null_mut();
    match convert::pack(&decision, events) {
        // No retry time: a small integer, which V8 makes without a heap number.
        Some(n) if n < 2_147_483_648.0 => {
            // SAFETY: `env` is live; `out` receives the number.
            if unsafe { sys::napi_create_int32(env, n as i32, &mut out) } != sys::Status::napi_ok {
                return Err(internal("napi_create_int32"));
            }
        }
        Some(n) => {
            // SAFETY: `env` is live; `out` receives the number.
            if unsafe { sys::napi_create_double(env, n, &mut out) } != sys::Status::napi_ok {
                return Err(internal("napi_create_double"));
            }
        }
        None => {
            // SAFETY: `env` is live.
            out = unsafe { Decision::to_napi_value(env, decision.into()) }
                .map_err(|_| internal("creating a decision object"))?;
        }
    }
    Ok(out)
}

/// SAFETY: `value` must be a live value of the current call in `env`.
#[inline(always)]
unsafe fn read<'a>(
    env: sys::napi_env,
    value: sys::napi_value,
    units: &mut [MaybeUninit<u16>; UNITS],
    stack: &'a mut [MaybeUninit<u8>; BYTES],
    heap: &'a mut Vec<u8>,
    name: &str,
    bytes_allowed: bool,
) -> Result<Arg<'a>, Error> {
    // Strings first, as UTF-16: V8 copies those out far cheaper than it encodes UTF-8,
    // and most arguments are short strings (this also spares a `napi_typeof`).
    let mut len = 0usize;
    // SAFETY: writes at most `UNITS` units, NUL included, into `units`.
    let status = unsafe {
        sys::napi_get_value_string_utf16(env, value, units.as_mut_ptr().cast(), UNITS, &mut len)
    };
    if status == sys::Status::napi_ok && len + 1 < UNITS {
        // SAFETY: Node wrote `len` units (and a NUL) at the start of `units`.
        let units = unsafe { std::slice::from_raw_parts(units.as_ptr().cast::<u16>(), len) };
        return Ok(Arg::Text(utf8(units, stack)));
    }
    // SAFETY: per this function's contract.
    unsafe { read_other(env, value, status, stack, heap, name, bytes_allowed) }
}

/// A long string, nothing, or bytes: out of the hot path.
/// SAFETY: `value` must be a live value of the current call in `env`.
#[cold]
#[inline(never)]
unsafe fn read_other<'a>(
    env: sys::napi_env,
    value: sys::napi_value,
    status: sys::napi_status,
    stack: &'a mut [MaybeUninit<u8>; BYTES],
    heap: &'a mut Vec<u8>,
    name: &str,
    bytes_allowed: bool,
) -> Result<Arg<'a>, Error> {
    if status == sys::Status::napi_ok {
        // SAFETY: per this function's contract; `value` is a string.
        return unsafe { read_long(env, value, stack, heap, name) };
    }
    let expected = if bytes_allowed {
        "a string, a Buffer or a Uint8Array"
    } else {
        "a string"
    };
    let mut ty = 0;
    // SAFETY: per this function's contract.
    if unsafe { sys::napi_typeof(env, value, &mut ty) } != sys::Status::napi_ok {
        return Err(internal("napi_typeof"));
    }
    match ty {
        sys::ValueType::napi_undefined | sys::ValueType::napi_null => Ok(Arg::Absent),
        sys::ValueType::napi_object if bytes_allowed => {
            let mut is_typed = false;
            // SAFETY: per this function's contract.
            unsafe { sys::napi_is_typedarray(env, value, &mut is_typed) };
            if !is_typed {
                return Err(type_error(name, expected));
            }
            let (mut kind, mut len, mut data) = (0, 0usize, ptr::null_mut());
            // SAFETY: per this function's contract; the out-pointers are valid.
            let status = unsafe {
                sys::napi_get_typedarray_info(
                    env,
                    value,
                    &mut kind,
                    &mut len,
                    &mut data,
                    ptr::null_mut(),
                    ptr::null_mut(),
                )
            };
            if status != sys::Status::napi_ok || kind != sys::TypedarrayType::uint8_array {
                return Err(type_error(name, expected));
            }
            if len == 0 || data.is_null() {
                return Ok(Arg::Bytes(&[]));
            }
            // SAFETY: a Uint8Array's `len` bytes at `data` stay put while the call runs
            // (the argument keeps its buffer alive, and nothing here runs JS).
            Ok(Arg::Bytes(unsafe {
                std::slice::from_raw_parts(data.cast::<u8>(), len)
            }))
        }
        _ => Err(type_error(name, expected)),
    }
}

/// `units` as UTF-8 in `out`, a lone surrogate as U+FFFD: the bytes that
/// `napi_get_value_string_utf8` (V8's `REPLACE_INVALID_UTF8`) would have written.
fn utf8<'a>(units: &[u16], out: &'a mut [MaybeUninit<u8>; BYTES]) -> &'a str {
    // ASCII nearly always: one pass narrows and checks, 8 units at a time.
    let mut seen = 0u16;
    let mut bytes = out[..units.len()].chunks_exact_mut(8);
    let mut chunks = units.chunks_exact(8);
    for (bytes, chunk) in (&mut bytes).zip(&mut chunks) {
        for (byte, &unit) in bytes.iter_mut().zip(chunk) {
            byte.write(unit as u8);
            seen |= unit;
        }
    }
    let rest = chunks.remainder();
    for (byte, &unit) in bytes.into_remainder().iter_mut().zip(rest) {
        byte.write(unit as u8);
        seen |= unit;
    }
    let len = if seen < 0x80 {
        units.len()
    } else {
        let mut len = 0;
        for c in char::decode_utf16(units.iter().copied()) {
            let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
            // At most 3 bytes per unit (4 per pair), so `BYTES` holds `UNITS` units.
            for &byte in c.encode_utf8(&mut [0; 4]).as_bytes() {
                out[len].write(byte);
                len += 1;
            }
        }
        len
    };
    // SAFETY: the first `len` bytes of `out` were written above, and are UTF-8: each
    // below 0x80 (ASCII), or whole characters from `char::encode_utf8`.
    unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(out.as_ptr().cast(), len)) }
}

/// A string of `UNITS` units or more (over-long, mostly), as UTF-8 from Node.
/// SAFETY: `value` must be a live string of the current call in `env`.
unsafe fn read_long<'a>(
    env: sys::napi_env,
    value: sys::napi_value,
    stack: &'a mut [MaybeUninit<u8>; BYTES],
    heap: &'a mut Vec<u8>,
    name: &str,
) -> Result<Arg<'a>, Error> {
    let mut len = 0usize;
    // SAFETY: writes at most `BYTES` bytes, NUL included, into `stack`.
    let status = unsafe {
        sys::napi_get_value_string_utf8(env, value, stack.as_mut_ptr().cast(), BYTES, &mut len)
    };
    if status != sys::Status::napi_ok {
        return Err(internal("napi_get_value_string_utf8"));
    }
    let text: &[u8] = if len + 1 < BYTES {
        // SAFETY: Node wrote `len` bytes (and a NUL) at the start of `stack`.
        unsafe { std::slice::from_raw_parts(stack.as_ptr().cast::<u8>(), len) }
    } else {
        // It may not have fitted: ask for the length, then copy it whole.
        // SAFETY: a null buffer asks only for the length.
        let status =
            unsafe { sys::napi_get_value_string_utf8(env, value, ptr::null_mut(), 0, &mut len) };
        if status != sys::Status::napi_ok {
            return Err(internal("napi_get_value_string_utf8"));
        }
        heap.resize(len + 1, 0);
        // SAFETY: `heap` has room for `len` bytes and the NUL.
        let status = unsafe {
            sys::napi_get_value_string_utf8(
                env,
                value,
                heap.as_mut_ptr().cast(),
                heap.len(),
                &mut len,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(internal("napi_get_value_string_utf8"));
        }
        &heap[..len]
    };
    std::str::from_utf8(text)
        .map(Arg::Text)
        .map_err(|_| crate::error::new(Code::InvalidUtf8, format!("invalid utf-8 in {name}")))
}

/// SAFETY: `value` must be a live value of the current call in `env`.
unsafe fn flag(env: sys::napi_env, value: sys::napi_value, name: &str) -> Result<bool, Error> {
    let mut b = false;
    // Booleans first (`loginguard.js` passes one): this spares a `napi_typeof`.
    // SAFETY: per this function's contract.
    if unsafe { sys::napi_get_value_bool(env, value, &mut b) } == sys::Status::napi_ok {
        return Ok(b);
    }
    let mut ty = 0;
    // SAFETY: per this function's contract.
    if unsafe { sys::napi_typeof(env, value, &mut ty) } != sys::Status::napi_ok {
        return Err(internal("napi_typeof"));
    }
    match ty {
        sys::ValueType::napi_undefined | sys::ValueType::napi_null => Ok(false),
        _ => Err(type_error(name, "a boolean")),
    }
}
