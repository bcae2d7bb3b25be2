//! The Promise API of a guard whose store is Redis, where every call may wait on
//! the network up to `store.timeout`: each call runs on the blocking pool of
//! napi's tokio runtime (never on libuv's four-thread pool, never on the event
//! loop), and its Promise settles on the JS thread.

use napi::bindgen_prelude::{spawn_blocking, Either, PromiseRaw, ToNapiValue};
use napi::Env;

use crate::error::{self, Code};

/// What a Promise resolves to: the value, or the error (with its stable `code`)
/// that `loginguard.js` throws; a napi rejection would carry napi's status instead.
pub type Outcome<T> = Either<T, error::Error>;

/// Runs `f` (already guarded by [`error::core`]) off the JS thread.
pub fn run<T, F>(env: &Env, f: F) -> error::Result<PromiseRaw<'_, Outcome<T>>>
where
    T: ToNapiValue + Send + 'static,
    F: FnOnce() -> error::Result<T> + Send + 'static,
{
    env.spawn_future(async move {
        let outcome = match spawn_blocking(f).await {
            Ok(Ok(value)) => Either::A(value),
            Ok(Err(e)) => Either::B(e),
            Err(_) => Either::B(error::panicked()),
        };
        Ok::<_, napi::Error>(outcome)
    })
    .map_err(|e| error::new(Code::Internal, format!("Node-API failed: {}", e.reason)))
}
