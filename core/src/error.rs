//! One error type for the whole crate, with a stable [`ErrorKind`].

use std::fmt;

/// The stable category of an [`Error`]: bindings map it to their own error
/// classes and codes, so its names never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The attempt is not one loginguard can key: no account and no IP,
    /// a device without an account, or a value over its size limit.
    InvalidAttempt,
    /// The IP is neither IPv4/IPv6 text nor 4 or 16 raw bytes.
    InvalidIp,
    /// Text that must be UTF-8 is not.
    InvalidUtf8,
    /// The policy (TOML or built in code) has a bad, unknown or out-of-range field.
    Policy,
    /// The store could not be opened or does not fit this build.
    Store,
}

impl ErrorKind {
    /// The kind's stable snake_case name, as bindings report it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidAttempt => "invalid_attempt",
            ErrorKind::InvalidIp => "invalid_ip",
            ErrorKind::InvalidUtf8 => "invalid_utf8",
            ErrorKind::Policy => "policy",
            ErrorKind::Store => "store",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong in loginguard. Errors never leave a counter
/// half-updated: an attempt that fails validation records nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Neither an account nor an IP was given (an empty value counts as absent).
    #[error("invalid attempt: an attempt needs an account or an ip")]
    MissingKey,
    /// A device was given without an account: devices are trusted per account.
    #[error("invalid attempt: a device requires an account")]
    DeviceWithoutAccount,
    /// The account is longer than [`crate::MAX_ACCOUNT_BYTES`].
    #[error("invalid attempt: account is {len} bytes, the limit is {max}")]
    AccountTooLong {
        /// Bytes given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The device id is longer than [`crate::MAX_DEVICE_BYTES`].
    #[error("invalid attempt: device is {len} bytes, the limit is {max}")]
    DeviceTooLong {
        /// Bytes given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The IP could not be parsed.
    #[error("invalid ip: {0}")]
    InvalidIp(String),
    /// A text field was not valid UTF-8.
    #[error("invalid utf-8 in {0}")]
    InvalidUtf8(&'static str),
    /// A policy field is unknown, malformed or out of range.
    #[error("policy error in `{field}`: {message}")]
    Policy {
        /// Dotted path of the offending field, e.g. `account_ip.lock_for`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The store could not be used.
    #[error("store error: {0}")]
    Store(String),
}

impl Error {
    /// The stable category of this error.
    ///
    /// ```
    /// use loginguard::{ErrorKind, Policy};
    /// let err = Policy::from_toml("[account]\nlock_for = \"5\"").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Policy);
    /// assert!(err.to_string().contains("account.lock_for"));
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::MissingKey
            | Error::DeviceWithoutAccount
            | Error::AccountTooLong { .. }
            | Error::DeviceTooLong { .. } => ErrorKind::InvalidAttempt,
            Error::InvalidIp(_) => ErrorKind::InvalidIp,
            Error::InvalidUtf8(_) => ErrorKind::InvalidUtf8,
            Error::Policy { .. } => ErrorKind::Policy,
            Error::Store(_) => ErrorKind::Store,
        }
    }

    pub(crate) fn policy(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Policy {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// `Result` with loginguard's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
