//! Every error leaves as a JS `Error` whose `code` is one of these stable strings.

use napi::Status;

/// The stable `code` of an error thrown by the binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// No account and no ip, a device without an account, or a value over its size limit.
    InvalidAttempt,
    /// The ip is neither IPv4/IPv6 text nor 4 or 16 raw bytes.
    InvalidIp,
    /// Text that must be UTF-8 is not (bytes handed over as a Buffer).
    InvalidUtf8,
    /// The policy has a bad, unknown or out-of-range field; the message names it.
    Policy,
    /// The store could not be opened.
    Store,
    /// An argument of the wrong JS type.
    Type,
    /// `advanceMs` on a guard that reads the system clock.
    Clock,
    /// A panic in loginguard, caught at the boundary (never expected).
    Panic,
    /// Node-API itself failed (never expected).
    Internal,
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        match self {
            Code::InvalidAttempt => "ERR_LOGINGUARD_INVALID_ATTEMPT",
            Code::InvalidIp => "ERR_LOGINGUARD_INVALID_IP",
            Code::InvalidUtf8 => "ERR_LOGINGUARD_INVALID_UTF8",
            Code::Policy => "ERR_LOGINGUARD_POLICY",
            Code::Store => "ERR_LOGINGUARD_STORE",
            Code::Type => "ERR_LOGINGUARD_TYPE",
            Code::Clock => "ERR_LOGINGUARD_CLOCK",
            Code::Panic => "ERR_LOGINGUARD_PANIC",
            Code::Internal => "ERR_LOGINGUARD_INTERNAL",
        }
    }
}

/// An error on its way to JS.
pub type Error = napi::Error<Code>;
/// `Result` with the binding's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub fn new(code: Code, message: impl Into<String>) -> Error {
    napi::Error::new(code, message.into())
}

/// The core's error, under the code of its kind.
pub fn from_core(e: loginguard::Error) -> Error {
    use loginguard::ErrorKind;
    let code = match e.kind() {
        ErrorKind::InvalidAttempt => Code::InvalidAttempt,
        ErrorKind::InvalidIp => Code::InvalidIp,
        ErrorKind::InvalidUtf8 => Code::InvalidUtf8,
        ErrorKind::Policy => Code::Policy,
        ErrorKind::Store => Code::Store,
        _ => Code::Internal,
    };
    new(code, e.to_string())
}

/// A Node-API failure while reading an argument means the argument had the wrong shape.
pub fn from_napi(e: napi::Error<Status>, code: Code, what: &str) -> Error {
    new(code, format!("{what}: {}", e.reason))
}

/// Runs a call into the core: its error under its kind's code, a panic as `ERR_LOGINGUARD_PANIC`.
pub fn core<T>(f: impl FnOnce() -> loginguard::Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(from_core),
        Err(_) => Err(panicked()),
    }
}

/// The error for a panic caught at the boundary: the call failed, Node lives on.
pub fn panicked() -> Error {
    new(Code::Panic, "loginguard panicked; nothing was decided")
}
