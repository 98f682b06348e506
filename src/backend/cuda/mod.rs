//! The CUDA backend (`Device::Cuda(n)`): the kernels of `kernels/*.cu`, compiled by build.rs
//! into fatbins embedded in the crate, launched through the driver API (cudarc, loaded at run
//! time, so the crate builds and runs without CUDA installed).
//!
//! One context (the device's primary context) and one stream per device; memory from a caching
//! allocator (`alloc.rs`); nothing synchronizes with the host except [`Runtime::download`].
//! Every failure (no driver, no such device, built without nvcc, a driver error) is an
//! [`Error`], never a panic.

mod alloc;
pub mod ptxas;

pub use alloc::{PoolStats, thread_driver_allocs};

use std::collections::HashMap;
use std::ffi::{CString, c_void};
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::{result, sys};

use super::gpu::{Arg, GpuBackend, KernelSig, LaunchCfg, Runtime, launch};
use super::{Buffer, BufferInner};
use crate::error::{Error, Result};
use crate::tensor::Device;

/// The kernels build.rs compiled: `NVCC`, `FATBINS`, `PTXAS_REPORTS`.
pub mod built {
    include!(concat!(env!("OUT_DIR"), "/cuda_kernels.rs"));
}

/// Device memory from the caching allocator; given back to it when dropped.
pub(crate) struct CudaMem {
    ptr: u64,
    len: usize,
    class: usize,
    ordinal: usize,
    pool: Arc<alloc::Pool>,
}

impl std::fmt::Debug for CudaMem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaMem(cuda:{}, {} values)", self.ordinal, self.len)
    }
}

impl CudaMem {
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    pub(crate) fn ordinal(&self) -> usize {
        self.ordinal
    }
}

impl Drop for CudaMem {
    fn drop(&mut self) {
        if self.class > 0 {
            self.pool.put(self.ptr, self.class);
        }
    }
}

/// Raw driver handles, used only with the context bound.
struct Handles {
    ctx: sys::CUcontext,
    stream: sys::CUstream,
    modules: HashMap<String, sys::CUmodule>,
}

// SAFETY: CUDA contexts, streams and modules may be used from any thread once the context is
// made current there, which `CudaRuntime::bind` does before every driver call.
unsafe impl Send for Handles {}
unsafe impl Sync for Handles {}

/// One GPU's runtime.
pub struct CudaRuntime {
    ordinal: usize,
    name: String,
    h: Handles,
    functions: Mutex<HashMap<&'static str, usize>>,
    pool: Arc<alloc::Pool>,
}

fn driver_err(what: &str, e: result::DriverError) -> String {
    format!("{what}: {e:?}")
}

impl CudaRuntime {
    /// Opens device `ordinal`: loads the driver, makes its primary context current, creates the
    /// stream and loads every kernel module.
    pub fn open(ordinal: usize) -> std::result::Result<CudaRuntime, String> {
        if built::NVCC.is_none() || built::FATBINS.is_empty() {
            return Err(
                "built without nvcc, so there are no CUDA kernels in this build: install \
                 the pinned nvcc set with `bash scripts/install-nvcc.sh` (or set NVCC to an \
                 nvcc path) and rebuild"
                    .into(),
            );
        }
        // SAFETY: only probes for the shared library.
        if !unsafe { sys::is_culib_present() } {
            return Err(
                "no CUDA driver found (libcuda.so is not installed or not on the \
                 library path)"
                    .into(),
            );
        }
        result::init().map_err(|e| driver_err("cuInit", e))?;
        let count = result::device::get_count().map_err(|e| driver_err("cuDeviceGetCount", e))?;
        if ordinal >= count.max(0) as usize {
            return Err(format!("this machine has {count} CUDA device(s)"));
        }
        let dev = result::device::get(ordinal as i32).map_err(|e| driver_err("cuDeviceGet", e))?;
        let name = result::device::get_name(dev).unwrap_or_else(|_| "unknown GPU".into());
        // SAFETY: `dev` came from cuDeviceGet.
        let ctx = unsafe { result::primary_ctx::retain(dev) }
            .map_err(|e| driver_err("cuDevicePrimaryCtxRetain", e))?;
        // SAFETY: a context just retained.
        unsafe { result::ctx::set_current(ctx) }.map_err(|e| driver_err("cuCtxSetCurrent", e))?;
        let stream = result::stream::create(result::stream::StreamKind::NonBlocking)
            .map_err(|e| driver_err("cuStreamCreate", e))?;
        let mut modules = HashMap::new();
        for (family, image) in built::FATBINS {
            // The driver reads the image in place: give it 8-byte alignment.
            let mut aligned = vec![0u64; image.len().div_ceil(8) + 1];
            // SAFETY: `aligned` holds at least `image.len()` bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    image.as_ptr(),
                    aligned.as_mut_ptr() as *mut u8,
                    image.len(),
                );
            }
            // SAFETY: a fatbin produced by nvcc, alive during the call.
            let m = unsafe { result::module::load_data(aligned.as_ptr() as *const c_void) }
                .map_err(|e| driver_err(&format!("loading kernels/{family}.cu"), e))?;
            modules.insert(family.to_string(), m);
        }
        Ok(CudaRuntime {
            ordinal,
            name,
            h: Handles {
                ctx,
                stream,
                modules,
            },
            functions: Mutex::new(HashMap::new()),
            pool: Arc::new(alloc::Pool::default()),
        })
    }

    /// The GPU's name, as the driver reports it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the caching allocator holds.
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }

    fn err(&self, what: &'static str, e: result::DriverError) -> Error {
        Error::Kernel {
            kernel: what,
            msg: format!("cuda:{}: {e:?}", self.ordinal),
        }
    }

    fn bind(&self) -> Result<()> {
        // SAFETY: the context was retained in `open` and is never released.
        unsafe { result::ctx::set_current(self.h.ctx) }.map_err(|e| self.err("cuCtxSetCurrent", e))
    }

    fn function(&self, k: &KernelSig) -> Result<sys::CUfunction> {
        let mut cache = self.functions.lock().expect("function cache lock");
        if let Some(&f) = cache.get(k.name) {
            return Ok(f as sys::CUfunction);
        }
        let module = self.h.modules.get(k.family).ok_or_else(|| Error::Kernel {
            kernel: k.name,
            msg: format!("no compiled module kernels/{}.cu", k.family),
        })?;
        let name = CString::new(k.name).expect("kernel names have no NUL");
        // SAFETY: a module loaded in `open`.
        let f =
            unsafe { result::module::get_function(*module, name) }.map_err(|e| Error::Kernel {
                kernel: k.name,
                msg: format!("not found in kernels/{}.cu: {e:?}", k.family),
            })?;
        cache.insert(k.name, f as usize);
        Ok(f)
    }

    fn wrap(&self, ptr: u64, len: usize, class: usize) -> Buffer {
        Buffer {
            inner: BufferInner::Cuda(Arc::new(CudaMem {
                ptr,
                len,
                class,
                ordinal: self.ordinal,
                pool: self.pool.clone(),
            })),
        }
    }

    fn ptr_of(&self, b: &Buffer) -> Result<u64> {
        match &b.inner {
            BufferInner::Cuda(m) if m.ordinal == self.ordinal => Ok(m.ptr),
            _ => Err(Error::DeviceUnavailable {
                device: b.device(),
                msg: format!(
                    "a cuda:{} launch was given memory of another device",
                    self.ordinal
                ),
            }),
        }
    }
}

impl Runtime for CudaRuntime {
    fn device(&self) -> Device {
        Device::Cuda(self.ordinal)
    }

    fn alloc(&self, len: usize) -> Result<Buffer> {
        if len == 0 {
            return Ok(self.wrap(0, 0, 0));
        }
        self.bind()?;
        let class = alloc::size_class(len * 4);
        let ptr = self
            .pool
            .take(class)
            .map_err(|e| self.err("cuMemAlloc", e))?;
        Ok(self.wrap(ptr, len, class))
    }

    fn upload(&self, data: &[f32]) -> Result<Buffer> {
        let buf = self.alloc(data.len())?;
        if !data.is_empty() {
            let dst = self.ptr_of(&buf)?;
            // SAFETY: `dst` holds `data.len()` values; a copy from pageable memory is staged
            // before the call returns, so `data` may go away afterwards.
            unsafe { result::memcpy_htod_async(dst, data, self.h.stream) }
                .map_err(|e| self.err("cuMemcpyHtoDAsync", e))?;
        }
        Ok(buf)
    }

    fn download(&self, buf: &Buffer) -> Result<Vec<f32>> {
        let src = self.ptr_of(buf)?;
        let mut out = vec![0f32; buf.len()];
        if out.is_empty() {
            return Ok(out);
        }
        self.bind()?;
        // SAFETY: `src` holds `out.len()` values; we synchronize before `out` is read.
        unsafe {
            result::memcpy_dtoh_async(&mut out, src, self.h.stream)
                .map_err(|e| self.err("cuMemcpyDtoHAsync", e))?;
            result::stream::synchronize(self.h.stream).map_err(|e| self.err("sync", e))?;
        }
        Ok(out)
    }

    fn synchronize(&self) -> Result<()> {
        self.bind()?;
        // SAFETY: our stream, with its context current.
        unsafe { result::stream::synchronize(self.h.stream) }.map_err(|e| self.err("sync", e))
    }

    fn launch(&self, k: &KernelSig, cfg: LaunchCfg, args: &[Arg]) -> Result<()> {
        let mut packed = launch::pack(k, args, |b| self.ptr_of(b))?;
        if cfg.grid.contains(&0) {
            return Ok(());
        }
        self.bind()?;
        let f = self.function(k)?;
        if cfg.shared_bytes > 48 * 1024 {
            // SAFETY: a valid function handle; the attribute only raises the limit.
            unsafe {
                result::function::set_function_attribute(
                    f,
                    sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    cfg.shared_bytes as i32,
                )
            }
            .map_err(|e| self.err("cuFuncSetAttribute", e))?;
        }
        // SAFETY: `packed` matches the kernel's parameters (checked against the launch table,
        // which a test checks against the kernel source); buffers stay alive (or return to the
        // stream-ordered cache) until the kernel has run.
        unsafe {
            result::launch_kernel(
                f,
                (cfg.grid[0], cfg.grid[1], cfg.grid[2]),
                (cfg.block[0], cfg.block[1], cfg.block[2]),
                cfg.shared_bytes,
                self.h.stream,
                packed.as_mut_ptrs(),
            )
        }
        .map_err(|e| Error::Kernel {
            kernel: k.name,
            msg: format!("launch on cuda:{} failed: {e:?}", self.ordinal),
        })
    }
}

/// GPU `ordinal`'s runtime and backend, opened once; the error (kept) says why it is
/// unavailable.
fn opened(
    ordinal: usize,
) -> std::result::Result<(&'static CudaRuntime, &'static GpuBackend), Error> {
    type Slot = std::result::Result<(&'static CudaRuntime, &'static GpuBackend), String>;
    static OPENED: OnceLock<Mutex<HashMap<usize, Slot>>> = OnceLock::new();
    let mut map = OPENED
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .expect("CUDA device table lock");
    let slot = map.entry(ordinal).or_insert_with(|| {
        CudaRuntime::open(ordinal).map(|rt| {
            let rt: &'static CudaRuntime = Box::leak(Box::new(rt));
            let be: &'static GpuBackend = Box::leak(Box::new(GpuBackend::new(rt)));
            (rt, be)
        })
    });
    slot.clone().map_err(|msg| Error::DeviceUnavailable {
        device: Device::Cuda(ordinal),
        msg,
    })
}

/// The backend of GPU `ordinal`.
pub(crate) fn backend(ordinal: usize) -> Result<&'static GpuBackend> {
    Ok(opened(ordinal)?.1)
}

/// The runtime of GPU `ordinal` (its name, its allocator's statistics).
pub fn runtime(ordinal: usize) -> Result<&'static CudaRuntime> {
    Ok(opened(ordinal)?.0)
}
