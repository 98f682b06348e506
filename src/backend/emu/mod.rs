//! The emulator (`Device::Emu`): the CUDA kernels of `kernels/*.cu`, compiled for the CPU by
//! build.rs with a shim header, run by a deterministic fiber scheduler (`kernels/emu/`).
//!
//! Memory is host memory (64-byte aligned, NaN-filled when allocated, so an unwritten output
//! shows); a launch packs its arguments exactly as for `cuLaunchKernel` (shared code in
//! `backend::gpu::launch`) and runs the grid block by block on the calling thread. It exists so
//! that every kernel is tested on machines without a GPU: the op tests run on it in CI.

use std::alloc::{Layout, alloc, dealloc};
use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_void};
use std::sync::{Arc, OnceLock};

use super::gpu::{Arg, KernelSig, LaunchCfg, Runtime, launch};
use super::{Buffer, BufferInner};
use crate::error::{Error, Result};
use crate::tensor::Device;

#[repr(C)]
struct RawKernel {
    name: *const c_char,
    family: *const c_char,
    entry: Option<unsafe extern "C" fn(*mut *mut c_void)>,
    sig: Option<unsafe extern "C" fn() -> *const c_char>,
}

unsafe extern "C" {
    static vf_emu_kernels: [RawKernel; 0];
    static vf_emu_kernel_count: usize;
    fn vf_emu_launch(
        entry: unsafe extern "C" fn(*mut *mut c_void),
        params: *mut *mut c_void,
        grid: *const u32,
        block: *const u32,
        shared_bytes: u32,
        err: *mut c_char,
        err_len: usize,
    ) -> i32;
}

type Entry = unsafe extern "C" fn(*mut *mut c_void);

/// One compiled kernel: its family, entry point and C++ signature.
struct Compiled {
    family: String,
    entry: Entry,
    sig: String,
}

fn registry() -> &'static HashMap<String, Compiled> {
    static REG: OnceLock<HashMap<String, Compiled>> = OnceLock::new();
    REG.get_or_init(|| {
        let mut map = HashMap::new();
        // SAFETY: build.rs generates `vf_emu_kernels` with `vf_emu_kernel_count` valid rows of
        // static strings and function pointers.
        unsafe {
            let rows = std::ptr::addr_of!(vf_emu_kernels) as *const RawKernel;
            for i in 0..vf_emu_kernel_count {
                let r = &*rows.add(i);
                let (Some(entry), Some(sig)) = (r.entry, r.sig) else {
                    continue;
                };
                let name = CStr::from_ptr(r.name).to_string_lossy().into_owned();
                let family = CStr::from_ptr(r.family).to_string_lossy().into_owned();
                let sig = CStr::from_ptr(sig()).to_string_lossy().into_owned();
                map.insert(name, Compiled { family, entry, sig });
            }
        }
        map
    })
}

/// Every kernel the emulator was built with: `(name, signature)`, sorted by name.
pub fn compiled_kernels() -> Vec<(String, String)> {
    let mut v: Vec<_> = registry()
        .iter()
        .map(|(n, c)| (n.clone(), c.sig.clone()))
        .collect();
    v.sort();
    v
}

/// Host memory standing in for device memory: written only by kernels, while no other
/// reference reads it (buffers are immutable once an op returns them).
#[derive(Debug)]
pub(crate) struct EmuMem {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: the memory is owned by this struct, and writes happen only inside a launch that
// produces the buffer, before it is shared.
unsafe impl Send for EmuMem {}
unsafe impl Sync for EmuMem {}

impl EmuMem {
    fn layout(len: usize) -> Layout {
        Layout::from_size_align(len.max(1) * 4, 64).expect("emulator buffer layout")
    }

    fn new_nan(len: usize) -> EmuMem {
        // SAFETY: a non-zero-sized layout; every element is initialized below.
        let ptr = unsafe { alloc(Self::layout(len)) as *mut f32 };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(Self::layout(len));
        }
        let mem = EmuMem { ptr, len };
        mem.as_mut_slice().fill(f32::NAN);
        mem
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn as_slice(&self) -> &[f32] {
        // SAFETY: `ptr` holds `len` initialized values for the life of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    #[allow(clippy::mut_from_ref)]
    fn as_mut_slice(&self) -> &mut [f32] {
        // SAFETY: called only on freshly allocated memory that nothing else references yet.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    pub(crate) fn addr(&self) -> u64 {
        self.ptr as u64
    }
}

impl Drop for EmuMem {
    fn drop(&mut self) {
        // SAFETY: allocated in `new_nan` with the same layout.
        unsafe { dealloc(self.ptr as *mut u8, Self::layout(self.len)) }
    }
}

/// The emulator's runtime.
#[derive(Debug, Default)]
pub struct EmuRuntime;

impl Runtime for EmuRuntime {
    fn device(&self) -> Device {
        Device::Emu
    }

    fn alloc(&self, len: usize) -> Result<Buffer> {
        Ok(Buffer {
            inner: BufferInner::Emu(Arc::new(EmuMem::new_nan(len))),
        })
    }

    fn upload(&self, data: &[f32]) -> Result<Buffer> {
        let mem = EmuMem::new_nan(data.len());
        mem.as_mut_slice().copy_from_slice(data);
        Ok(Buffer {
            inner: BufferInner::Emu(Arc::new(mem)),
        })
    }

    fn download(&self, buf: &Buffer) -> Result<Vec<f32>> {
        match &buf.inner {
            BufferInner::Emu(m) => Ok(m.as_slice().to_vec()),
            _ => Err(wrong_device(buf)),
        }
    }

    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    fn launch(&self, k: &KernelSig, cfg: LaunchCfg, args: &[Arg]) -> Result<()> {
        let compiled = registry().get(k.name).ok_or_else(|| Error::Kernel {
            kernel: k.name,
            msg: "not compiled into the emulator (no VF_EXPORT line in kernels/*.cu)".into(),
        })?;
        if compiled.family != k.family {
            return Err(Error::Kernel {
                kernel: k.name,
                msg: format!(
                    "the launch table puts it in {}.cu, but kernels/{}.cu exports it",
                    k.family, compiled.family
                ),
            });
        }
        let mut packed = launch::pack(k, args, |b| match &b.inner {
            BufferInner::Emu(m) => Ok(m.addr()),
            _ => Err(wrong_device(b)),
        })?;
        if cfg.grid.contains(&0) {
            return Ok(());
        }
        let mut err = [0 as c_char; 512];
        // SAFETY: `packed` holds one pointer per kernel parameter, to values of the types the
        // kernel takes (checked against the table); buffers outlive the synchronous launch.
        let rc = unsafe {
            vf_emu_launch(
                compiled.entry,
                packed.as_mut_ptrs().as_mut_ptr(),
                cfg.grid.as_ptr(),
                cfg.block.as_ptr(),
                cfg.shared_bytes,
                err.as_mut_ptr(),
                err.len(),
            )
        };
        if rc != 0 {
            // SAFETY: the scheduler writes a NUL-terminated message on failure.
            let msg = unsafe { CStr::from_ptr(err.as_ptr()) }
                .to_string_lossy()
                .into_owned();
            return Err(Error::Kernel {
                kernel: k.name,
                msg,
            });
        }
        Ok(())
    }
}

fn wrong_device(b: &Buffer) -> Error {
    Error::DeviceUnavailable {
        device: b.device(),
        msg: "an emulator launch was given memory of another device".into(),
    }
}
