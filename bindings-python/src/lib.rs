//! `loginguard._native`: the Python binding of the loginguard core. Conversion only:
//! every decision is the core's. The public package `loginguard` re-exports it.

mod errors;
mod guard;
mod types;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<guard::Guard>()?;
    m.add_class::<types::Decision>()?;
    m.add_class::<types::Inspection>()?;
    m.add_class::<types::DimensionState>()?;
    m.add_class::<types::Stats>()?;
    m.add_class::<types::RedisStats>()?;
    m.add_class::<types::SiteState>()?;
    m.add_class::<types::Event>()?;
    // The core's reason names, for the drift check of the Python `Reason` enum.
    let reasons: Vec<&str> = loginguard::Reason::ALL.iter().map(|r| r.as_str()).collect();
    m.add("REASONS", pyo3::types::PyTuple::new(m.py(), reasons)?)?;
    m.add("MAX_ACCOUNT_BYTES", loginguard::MAX_ACCOUNT_BYTES)?;
    m.add("MAX_DEVICE_BYTES", loginguard::MAX_DEVICE_BYTES)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
