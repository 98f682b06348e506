//! Background loading: worker threads assemble the batches of a plan ahead of the training
//! step, at most `depth` batches ahead, and hand them over strictly in plan order, so the
//! result does not depend on the number of workers. The consumer's waiting time is measured,
//! so a trainer can report how much the data made the step wait.

use crate::data::error::{DataError, DataResult};
use crate::data::generators::{Batch, GenKind, Pair, VolumeSource, assemble};
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

struct Shared {
    /// Index of the next batch a worker may start.
    next_job: usize,
    /// Index of the next batch the consumer takes.
    next_out: usize,
    /// Finished batches not yet taken.
    ready: BTreeMap<usize, DataResult<Batch>>,
    stop: bool,
}

struct Inner {
    plan: Vec<Vec<Pair>>,
    depth: usize,
    state: Mutex<Shared>,
    changed: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Prefetches the batches of a plan with worker threads.
pub struct Loader {
    inner: Arc<Inner>,
    workers: Vec<JoinHandle<()>>,
    waited: Duration,
}

impl Loader {
    /// Starts `workers` threads (at least 1) assembling `plan[i]` for i = 0, 1, ... from
    /// `source`, never more than `depth` (at least 1) batches ahead of the consumer. An error
    /// when the system refuses a thread (those already started are stopped).
    pub fn spawn(
        plan: Vec<Vec<Pair>>,
        kind: GenKind,
        with_affine: bool,
        source: Arc<dyn VolumeSource>,
        workers: usize,
        depth: usize,
    ) -> DataResult<Loader> {
        let inner = Arc::new(Inner {
            plan,
            depth: depth.max(1),
            state: Mutex::new(Shared {
                next_job: 0,
                next_out: 0,
                ready: BTreeMap::new(),
                stop: false,
            }),
            changed: Condvar::new(),
        });
        let mut loader = Loader {
            inner,
            workers: Vec::with_capacity(workers.max(1)),
            waited: Duration::ZERO,
        };
        for k in 0..workers.max(1) {
            let inner = loader.inner.clone();
            let source = source.clone();
            let started = std::thread::Builder::new()
                .name(format!("voxflow-loader-{k}"))
                .spawn(move || work(&inner, kind, with_affine, source.as_ref()));
            match started {
                Ok(handle) => loader.workers.push(handle),
                // Dropping `loader` stops and joins the workers started so far.
                Err(e) => {
                    return Err(DataError::Dataset(format!(
                        "data loader: could not start worker thread {} of {}: {e} (lower \
                         `workers` in config.toml)",
                        k + 1,
                        workers.max(1)
                    )));
                }
            }
        }
        Ok(loader)
    }

    /// Batches in the plan.
    pub fn len(&self) -> usize {
        self.inner.plan.len()
    }

    /// True for an empty plan.
    pub fn is_empty(&self) -> bool {
        self.inner.plan.is_empty()
    }

    /// The next batch in plan order, waiting for it if needed; `None` after the last.
    pub fn next_batch(&mut self) -> Option<DataResult<Batch>> {
        let start = Instant::now();
        let mut s = self.inner.lock();
        if s.next_out >= self.inner.plan.len() {
            return None;
        }
        let i = s.next_out;
        let result = loop {
            if let Some(r) = s.ready.remove(&i) {
                break r;
            }
            if self.workers.iter().all(|w| w.is_finished()) {
                break Err(DataError::Dataset(format!(
                    "data loader: every worker stopped before batch {i} was ready"
                )));
            }
            s = self
                .inner
                .changed
                .wait_timeout(s, Duration::from_millis(200))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        s.next_out += 1;
        drop(s);
        self.inner.changed.notify_all();
        self.waited += start.elapsed();
        Some(result)
    }

    /// Total time [`Loader::next_batch`] spent waiting for workers.
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

fn work(inner: &Inner, kind: GenKind, with_affine: bool, source: &dyn VolumeSource) {
    loop {
        let i = {
            let mut s = inner.lock();
            loop {
                if s.stop || s.next_job >= inner.plan.len() {
                    return;
                }
                if s.next_job < s.next_out + inner.depth {
                    break;
                }
                s = inner.changed.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            s.next_job += 1;
            s.next_job - 1
        };
        let batch = assemble(kind, inner.plan[i].clone(), source, with_affine);
        inner.lock().ready.insert(i, batch);
        inner.changed.notify_all();
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.inner.lock().stop = true;
        self.inner.changed.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Images equal to their scan number; loading takes `delay` and is counted.
    struct Slow {
        delay: Duration,
        loads: AtomicUsize,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
    }

    impl VolumeSource for Slow {
        fn grid(&self) -> [usize; 3] {
            [1, 2, 2]
        }
        fn image(&self, id: &str) -> DataResult<Arc<Vec<f32>>> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(self.delay);
            self.loads.fetch_add(1, Ordering::SeqCst);
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let k: f32 = id
                .parse()
                .map_err(|_| DataError::Dataset(format!("bad id {id}")))?;
            Ok(Arc::new(vec![k; 4]))
        }
        fn mask(&self, id: &str) -> DataResult<Arc<Vec<f32>>> {
            self.image(id)
        }
        fn has_mask(&self, _id: &str) -> bool {
            true
        }
    }

    fn slow(ms: u64) -> Arc<Slow> {
        Arc::new(Slow {
            delay: Duration::from_millis(ms),
            loads: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        })
    }

    fn plan(n: usize) -> Vec<Vec<Pair>> {
        (0..n)
            .map(|i| {
                vec![Pair {
                    src: i.to_string(),
                    tgt: (i + 100).to_string(),
                }]
            })
            .collect()
    }

    #[test]
    fn batches_arrive_in_plan_order_for_any_worker_count() {
        for workers in [1, 3] {
            let mut l = Loader::spawn(plan(12), GenKind::Luna, false, slow(1), workers, 4).unwrap();
            for i in 0..12 {
                let b = l.next_batch().unwrap().unwrap();
                assert_eq!(b.src.to_vec().unwrap()[0], i as f32);
                assert_eq!(b.tgt.to_vec().unwrap()[0], (i + 100) as f32);
            }
            assert!(l.next_batch().is_none());
        }
    }

    #[test]
    fn workers_stay_within_the_prefetch_depth_and_overlap_the_consumer() {
        let src = slow(20);
        let mut l = Loader::spawn(plan(6), GenKind::Luna, false, src.clone(), 2, 2).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        // Nothing consumed yet: at most `depth` batches (2 loads each) were built.
        assert_eq!(src.loads.load(Ordering::SeqCst), 4);
        let first = l.next_batch().unwrap().unwrap();
        assert_eq!(first.pairs[0].src, "0");
        assert!(
            l.waited() < Duration::from_millis(20),
            "prefetched: no wait"
        );
        while let Some(b) = l.next_batch() {
            b.unwrap();
        }
        assert_eq!(src.loads.load(Ordering::SeqCst), 12);
        assert!(src.max_in_flight.load(Ordering::SeqCst) <= 2);
    }

    #[test]
    fn a_failing_batch_is_reported_in_its_place() {
        let mut p = plan(3);
        p[1][0].src = "not-a-number".into();
        let mut l = Loader::spawn(p, GenKind::Luna, false, slow(0), 2, 2).unwrap();
        assert!(l.next_batch().unwrap().is_ok());
        let e = l.next_batch().unwrap().unwrap_err();
        assert!(e.to_string().contains("not-a-number"), "{e}");
        assert!(l.next_batch().unwrap().is_ok());
    }

    #[test]
    fn dropping_early_stops_the_workers() {
        let l = Loader::spawn(plan(100), GenKind::Luna, false, slow(5), 2, 3).unwrap();
        drop(l); // joins; would hang if workers waited forever
    }
}
