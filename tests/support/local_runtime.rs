//! Running our library's async API from a plain `#[test]`: a current-thread tokio runtime with a `LocalSet`,
//! as the engine's cores run it (the library's clients are not `Send`).

use std::future::Future;

/// Runs `future` to its end on a runtime of its own.
pub fn block_on_local<T>(future: impl Future<Output = T>) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tokio::task::LocalSet::new().block_on(&runtime, future)
}
