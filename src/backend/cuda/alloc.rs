//! A caching device allocator: freed blocks go to a free list by size class and are handed out
//! again, so a training step in steady state calls `cuMemAlloc` never. All work runs on one
//! stream, so a block freed while kernels that use it are still queued can be reused at once:
//! later kernels on the stream run after them.

use std::collections::HashMap;
use std::sync::Mutex;

use cudarc::driver::result;

/// Rounds a request up to its size class: multiples of 512 bytes up to 1 MiB, above that the
/// next of `2^k`, `1.25·2^k`, `1.5·2^k`, `1.75·2^k` (at most 25% waste).
pub(crate) fn size_class(bytes: usize) -> usize {
    let bytes = bytes.max(1);
    if bytes <= 1 << 20 {
        return bytes.div_ceil(512) * 512;
    }
    let top = usize::BITS - 1 - bytes.leading_zeros();
    let quarter = 1usize << (top - 2);
    bytes.div_ceil(quarter) * quarter
}

thread_local! {
    /// Driver allocations made by this thread (tests check a steady state on their own thread
    /// while other tests share the device).
    static THREAD_DRIVER_ALLOCS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Driver allocations made by the calling thread so far, on any device.
pub fn thread_driver_allocs() -> usize {
    THREAD_DRIVER_ALLOCS.with(|c| c.get())
}

/// Free device blocks by size class, and the bytes held.
#[derive(Default)]
pub(crate) struct Pool {
    free: Mutex<HashMap<usize, Vec<u64>>>,
    stats: Mutex<PoolStats>,
}

/// What the allocator holds.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolStats {
    /// Bytes obtained from the driver and not given back.
    pub reserved: usize,
    /// Bytes handed out to live buffers.
    pub in_use: usize,
    /// Driver allocations made so far.
    pub driver_allocs: usize,
    /// The most bytes `reserved` has been: the buffers' peak share of GPU memory (the CUDA
    /// context and kernels come on top).
    pub peak_reserved: usize,
}

impl Pool {
    /// A block of `class` bytes (a size class): reused, or freshly allocated; on an
    /// out-of-memory error the cache is emptied and the allocation tried once more.
    pub(crate) fn take(&self, class: usize) -> Result<u64, result::DriverError> {
        let reused = self
            .free
            .lock()
            .expect("allocator lock")
            .get_mut(&class)
            .and_then(Vec::pop);
        let ptr = match reused {
            Some(p) => p,
            None => {
                // SAFETY: the context is current (the runtime binds it before every call).
                let p = match unsafe { result::malloc_sync(class) } {
                    Ok(p) => p,
                    Err(_) => {
                        self.release_cached();
                        // SAFETY: as above.
                        unsafe { result::malloc_sync(class)? }
                    }
                };
                THREAD_DRIVER_ALLOCS.with(|c| c.set(c.get() + 1));
                let mut s = self.stats.lock().expect("allocator lock");
                s.reserved += class;
                s.driver_allocs += 1;
                s.peak_reserved = s.peak_reserved.max(s.reserved);
                p
            }
        };
        self.stats.lock().expect("allocator lock").in_use += class;
        Ok(ptr)
    }

    /// Returns a block to the cache.
    pub(crate) fn put(&self, ptr: u64, class: usize) {
        self.free
            .lock()
            .expect("allocator lock")
            .entry(class)
            .or_default()
            .push(ptr);
        self.stats.lock().expect("allocator lock").in_use -= class;
    }

    /// Frees every cached block (after synchronizing, so no queued kernel still uses one).
    pub(crate) fn release_cached(&self) {
        let _ = result::ctx::synchronize();
        let mut free = self.free.lock().expect("allocator lock");
        let mut released = 0;
        for (class, ptrs) in free.drain() {
            for p in ptrs {
                // SAFETY: `p` came from `malloc_sync` and no live buffer holds it.
                unsafe {
                    let _ = result::free_sync(p);
                }
                released += class;
            }
        }
        self.stats.lock().expect("allocator lock").reserved -= released;
    }

    pub(crate) fn stats(&self) -> PoolStats {
        *self.stats.lock().expect("allocator lock")
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_cover_the_request_with_bounded_waste() {
        for bytes in [
            1usize,
            511,
            512,
            513,
            100_000,
            1 << 20,
            (1 << 20) + 1,
            3_000_000,
            1 << 30,
        ] {
            let c = size_class(bytes);
            assert!(c >= bytes, "{bytes} -> {c}");
            assert!(c as f64 <= bytes as f64 * 1.25 + 512.0, "{bytes} -> {c}");
            assert_eq!(size_class(c), c, "a class is its own class");
        }
        assert_eq!(size_class(1), 512);
        assert_eq!(size_class(3 << 20), 3 << 20);
    }
}
