//! The Promise API of a guard whose store is Redis, where every call may wait on
//! the network up to `store.timeout`: each call runs on the blocking pool of
//! napi's tokio runtime (never on libuv's four-thread pool, never on the event
//! loop), and settles its Promise straight from there through a thread-safe
//! function, with no async task in between (one thread hop each way).

use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::bindgen_prelude::{spawn_blocking, Either, Object, ToNapiValue};
use napi::Env;

use crate::error::{self, Code};

/// What a Promise resolves to: the value, or the error (with its stable `code`)
/// that `loginguard.js` throws; a napi rejection would carry napi's status instead.
pub type Outcome<T> = Either<T, error::Error>;

type Resolve<T> = Box<dyn FnOnce(Env) -> napi::Result<Outcome<T>> + Send>;

/// Runs `f` (already guarded by [`error::core`]) off the JS thread; the returned
/// object is a Promise of its [`Outcome`].
pub fn run<T, F>(env: &Env, f: F) -> error::Result<Object<'_>>
where
    T: ToNapiValue + Send + 'static,
    F: FnOnce() -> error::Result<T> + Send + 'static,
{
    let (deferred, promise) = env
        .create_deferred::<Outcome<T>, Resolve<T>>()
        .map_err(|e| error::new(Code::Internal, format!("Node-API failed: {}", e.reason)))?;
    spawn_blocking(move || {
        let outcome = match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(value)) => Either::A(value),
            Ok(Err(e)) => Either::B(e),
            Err(_) => Either::B(error::panicked()),
        };
        deferred.resolve(Box::new(move |_| Ok(outcome)));
    });
    Ok(promise)
}
