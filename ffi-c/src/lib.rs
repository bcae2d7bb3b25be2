//! The C ABI of loginguard: `libloginguard.so` / `libloginguard.a` and the
//! generated `include/loginguard.h`. Conversion code only; every decision is
//! the core's. See `ffi-c/README.md` for the C usage.
//!
//! ```
//! use loginguard_ffi::*;
//! let mut guard = std::ptr::null_mut();
//! // SAFETY: NULL/0 selects the default policy; `guard` is writable.
//! assert_eq!(unsafe { lg_guard_new_manual_clock(std::ptr::null(), 0, &mut guard) }, lg_status::LG_OK);
//! let account = "alice";
//! let attempt = lg_attempt {
//!     account: account.as_ptr(),
//!     account_len: account.len(),
//!     ip: std::ptr::null(),
//!     ip_len: 0,
//!     ip_bytes: std::ptr::null(),
//!     ip_bytes_len: 0,
//!     device: std::ptr::null(),
//!     device_len: 0,
//! };
//! let mut d = std::mem::MaybeUninit::<lg_decision>::uninit();
//! // SAFETY: a live guard, a valid attempt and a writable output.
//! let status = unsafe { lg_guard_record_failure(guard, &attempt, d.as_mut_ptr()) };
//! assert_eq!(status, lg_status::LG_OK);
//! // SAFETY: written on success.
//! let d = unsafe { d.assume_init() };
//! assert_eq!((d.action, d.failures), (lg_action::LG_ACTION_ALLOW, 1));
//! // SAFETY: created above, freed once.
//! unsafe { lg_guard_free(guard) };
//! ```
#![allow(non_camel_case_types)]

mod ffi;
mod types;

pub use ffi::*;
pub use types::{
    lg_action, lg_attempt, lg_decision, lg_dimension, lg_dimension_state, lg_event, lg_event_kind,
    lg_inspection, lg_reason, lg_stats, lg_status, LG_IP_TEXT_MAX, LG_MAX_DIMENSIONS,
};
