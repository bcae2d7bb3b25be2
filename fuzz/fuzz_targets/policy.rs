//! The policy parser on arbitrary bytes, directly and through `lg_guard_new_with_message`:
//! never a panic, and the C status and message agree with the Rust error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loginguard::{Policy, StoreKind};
use loginguard_ffi::{lg_guard_free, lg_guard_new_with_message, lg_status};

fuzz_target!(|data: &[u8]| {
    let parsed = std::str::from_utf8(data).map(Policy::from_toml);
    // A valid policy may ask for a large table, a file anywhere or a Redis
    // server: build guards only for small in-memory ones.
    if let Ok(Ok(p)) = &parsed {
        if p.store.capacity > 1 << 16 || !matches!(p.store.kind, StoreKind::Memory) {
            return;
        }
    }
    let mut guard = std::ptr::null_mut();
    let mut message = [0 as std::ffi::c_char; 96];
    // SAFETY: `data` is valid for its length; outputs are writable.
    let status = unsafe {
        lg_guard_new_with_message(
            data.as_ptr(),
            data.len(),
            true,
            &mut guard,
            message.as_mut_ptr(),
            message.len(),
        )
    };
    match parsed {
        Err(_) => assert_eq!(status, lg_status::LG_ERR_INVALID_UTF8),
        Ok(Err(e)) => {
            assert_eq!(status, lg_status::from(e.kind()));
            assert!(guard.is_null());
            let text = e.to_string();
            // SAFETY: the message is NUL-terminated within the buffer.
            let got = unsafe { std::ffi::CStr::from_ptr(message.as_ptr()) }.to_bytes();
            let mut end = text.len().min(message.len() - 1);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let want = text.as_bytes()[..end]
                .split(|b| *b == 0)
                .next()
                .unwrap_or_default();
            assert_eq!(got, want);
        }
        Ok(Ok(_)) => {
            assert_eq!(status, lg_status::LG_OK);
            assert!(!guard.is_null());
        }
    }
    // SAFETY: NULL or the guard made above, freed once.
    unsafe { lg_guard_free(guard) };
});
