//! Typed kernel signatures: what each kernel takes, and the packing of launch arguments exactly
//! as `cuLaunchKernel` wants them (an array of pointers, one per parameter, each pointing at
//! the parameter's bytes). The CUDA backend and the emulator share this code; the op families
//! gather every signature into the launch table, and a test compares each entry with the
//! signature the emulator reads off the compiled C++ kernel, so a launch whose arguments do
//! not match the kernel fails in CI.

use std::ffi::c_void;
use std::fmt;

use crate::backend::Buffer;
use crate::error::{Error, Result};

/// The type of one kernel parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// `float*` / `const float*`.
    PtrF32,
    /// `unsigned long long*`.
    PtrU64,
    /// `int*`.
    PtrI32,
    /// `int`.
    I32,
    /// `unsigned`.
    U32,
    /// `long long`.
    I64,
    /// `float`.
    F32,
}

impl Param {
    /// The code the emulator's C++ signature uses for this type.
    pub fn code(self) -> &'static str {
        match self {
            Param::PtrF32 => "*f32",
            Param::PtrU64 => "*u64",
            Param::PtrI32 => "*i32",
            Param::I32 => "i32",
            Param::U32 => "u32",
            Param::I64 => "i64",
            Param::F32 => "f32",
        }
    }
}

/// One kernel: the `.cu` family (file stem) it lives in, its exported name and parameters.
#[derive(Debug)]
pub struct KernelSig {
    pub family: &'static str,
    pub name: &'static str,
    pub params: &'static [Param],
}

impl KernelSig {
    /// The parameter list as the emulator spells it, e.g. `*f32,*f32,i64`.
    pub fn signature(&self) -> String {
        self.params
            .iter()
            .map(|p| p.code())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for KernelSig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{}({})", self.family, self.name, self.signature())
    }
}

/// One launch argument.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    /// Device memory, for any pointer parameter.
    Buf(&'a Buffer),
    I32(i32),
    U32(u32),
    I64(i64),
    F32(f32),
}

/// Grid and block shape and dynamic shared memory of one launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchCfg {
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub shared_bytes: u32,
}

impl LaunchCfg {
    /// A 1D launch of `threads` threads in blocks of `block` (at least one block).
    pub fn linear(threads: usize, block: u32) -> LaunchCfg {
        let blocks = threads.div_ceil(block as usize).clamp(1, i32::MAX as usize) as u32;
        LaunchCfg {
            grid: [blocks, 1, 1],
            block: [block, 1, 1],
            shared_bytes: 0,
        }
    }

    /// A grid-stride 1D launch: enough blocks of 256 threads to cover `n`, at most 65,535·4.
    pub fn elementwise(n: usize) -> LaunchCfg {
        let blocks = n.div_ceil(256).clamp(1, 4 * 65_535) as u32;
        LaunchCfg {
            grid: [blocks, 1, 1],
            block: [256, 1, 1],
            shared_bytes: 0,
        }
    }

    /// Explicit grid and block.
    pub fn new(grid: [u32; 3], block: [u32; 3], shared_bytes: u32) -> LaunchCfg {
        LaunchCfg {
            grid,
            block,
            shared_bytes,
        }
    }
}

/// Launch arguments packed for `cuLaunchKernel`: each value in its own 8-byte slot (the
/// little-endian low bytes hold 4-byte values), and an array of pointers to the slots.
pub struct Packed {
    slots: Vec<u64>,
    ptrs: Vec<*mut c_void>,
}

impl Packed {
    /// The `void**` array: valid while `self` lives.
    pub fn as_mut_ptrs(&mut self) -> &mut [*mut c_void] {
        &mut self.ptrs
    }
}

/// Checks `args` against `k`'s parameters and packs them; `dev_ptr` gives a buffer's device
/// address (and refuses buffers of another device).
pub fn pack(
    k: &KernelSig,
    args: &[Arg],
    dev_ptr: impl Fn(&Buffer) -> Result<u64>,
) -> Result<Packed> {
    let bad = |msg: String| Error::Kernel {
        kernel: k.name,
        msg,
    };
    if args.len() != k.params.len() {
        return Err(bad(format!(
            "{} arguments for {} parameters ({})",
            args.len(),
            k.params.len(),
            k.signature()
        )));
    }
    let mut slots = Vec::with_capacity(args.len());
    for (i, (a, p)) in args.iter().zip(k.params).enumerate() {
        let v = match (a, p) {
            (Arg::Buf(b), Param::PtrF32 | Param::PtrU64 | Param::PtrI32) => dev_ptr(b)?,
            (Arg::I32(v), Param::I32) => *v as u32 as u64,
            (Arg::U32(v), Param::U32) => *v as u64,
            (Arg::I64(v), Param::I64) => *v as u64,
            (Arg::F32(v), Param::F32) => v.to_bits() as u64,
            _ => {
                return Err(bad(format!(
                    "argument {i} is {a:?}, but the parameter is {}",
                    p.code()
                )));
            }
        };
        slots.push(v);
    }
    let mut packed = Packed {
        slots,
        ptrs: Vec::new(),
    };
    packed.ptrs = packed
        .slots
        .iter_mut()
        .map(|s| s as *mut u64 as *mut c_void)
        .collect();
    Ok(packed)
}

/// An `i32` launch argument from a size, or an error naming the kernel when it does not fit.
pub fn size_i32(kernel: &'static str, what: &str, v: usize) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::Kernel {
        kernel,
        msg: format!("{what} = {v} exceeds the kernel's 32-bit index range"),
    })
}
