//! Core errors as the exception classes of `loginguard._types`, by stable kind.

use loginguard::{Error, ErrorKind};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

const TYPES: &str = "loginguard._types";

macro_rules! class {
    ($py:expr, $name:literal) => {{
        static CELL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        CELL.import($py, TYPES, $name)
    }};
}

fn exception_class<'py>(py: Python<'py>, kind: ErrorKind) -> PyResult<&'py Bound<'py, PyType>> {
    match kind {
        ErrorKind::InvalidAttempt => class!(py, "InvalidAttemptError"),
        ErrorKind::InvalidIp => class!(py, "InvalidIpError"),
        ErrorKind::InvalidUtf8 => class!(py, "InvalidUtf8Error"),
        ErrorKind::Policy => class!(py, "PolicyError"),
        ErrorKind::Store => class!(py, "StoreError"),
        _ => class!(py, "LoginGuardError"),
    }
}

/// The exception for a core error: its class follows `kind()`, a policy error carries its field.
pub(crate) fn to_py(err: Error) -> PyErr {
    Python::attach(|py| {
        let kind = err.kind();
        let message = err.to_string();
        let made = exception_class(py, kind).and_then(|cls| {
            let exc = match &err {
                Error::Policy { field, .. } => cls.call1((message, field.as_str()))?,
                _ => cls.call1((message,))?,
            };
            // A kind this binding has no class for yet still reports its stable name.
            exc.setattr("kind", kind.as_str())?;
            Ok(exc)
        });
        match made {
            Ok(exc) => PyErr::from_value(exc),
            Err(import_failed) => import_failed,
        }
    })
}

/// A `str` that Python holds with lone surrogates cannot be UTF-8.
pub(crate) fn invalid_utf8(what: &str) -> PyErr {
    to_py(Error::InvalidUtf8(match what {
        "account" => "account",
        "ip" => "ip",
        "device" => "device",
        _ => "text",
    }))
}

pub(crate) fn wrong_type(what: &str, expected: &str, got: &Bound<'_, PyAny>) -> PyErr {
    let got = got
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string());
    PyTypeError::new_err(format!("{what} must be {expected} or None, not {got}"))
}

/// `Result` conversion for core calls.
pub(crate) trait IntoPyResult<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    #[inline]
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
