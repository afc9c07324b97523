//! The demo's workers: items on all cores in order, progress, and the interrupt every loop
//! checks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::{CliError, Context};
use crate::output::Progress;

/// Set by the interrupt handler; the demo's loops check it and stop.
pub(super) static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Stops the run when it was interrupted.
pub(super) fn check_interrupt() -> Result<(), CliError> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Err(Interrupted).in_environment("the demo");
    }
    Ok(())
}

/// The user interrupted the run.
#[derive(Debug, thiserror::Error)]
#[error("interrupted; the temporary folder was removed")]
struct Interrupted;

/// A worker thread of the demo panicked: the demo's own bug.
#[derive(Debug, thiserror::Error)]
#[error("a worker thread stopped unexpectedly")]
struct WorkerFailed;

/// `f(i)` for every `i` of `0..n`, on all cores, in order; stops at the first error or an
/// interrupt. `done` counts the items finished.
pub(super) fn parallel<T: Send>(
    n: usize,
    done: &AtomicU64,
    f: impl Fn(usize) -> Result<T, CliError> + Sync,
) -> Result<Vec<T>, CliError> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let threads = threads.clamp(1, 64).min(n.max(1));
    let failed = AtomicBool::new(false);
    let parts: Vec<Result<Vec<(usize, T)>, CliError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (f, failed) = (&f, &failed);
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for i in (t..n).step_by(threads) {
                        if failed.load(Ordering::Relaxed) {
                            break;
                        }
                        let item = check_interrupt().and_then(|()| f(i));
                        match item {
                            Ok(item) => out.push((i, item)),
                            Err(e) => {
                                failed.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(out)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(WorkerFailed).in_environment("the demo"))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(n);
    for part in parts {
        all.extend(part?);
    }
    all.sort_unstable_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, item)| item).collect())
}

/// [`parallel`], showing progress.
pub(super) fn with_progress<T: Send>(
    progress: &Progress,
    n: usize,
    f: impl Fn(usize) -> Result<T, CliError> + Sync,
) -> Result<Vec<T>, CliError> {
    let done = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                progress.count(done.load(Ordering::Relaxed));
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
        let result = parallel(n, &done, f);
        finished.store(true, Ordering::Relaxed);
        result
    })
}
