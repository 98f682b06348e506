//! `Tensor`: an immutable, reference-counted `f32` array on a device, optionally tracked by an
//! autograd [`Tape`](crate::autograd::Tape). Volumes are channels-last `[N, D, H, W, C]`.

mod device;
mod rng;
mod shape;

pub use device::Device;
pub use rng::Rng;
pub use shape::Shape;

use crate::autograd::Node;
use crate::backend::Buffer;
use crate::error::{Error, Result};
use crate::ops::{self, Backend};
use std::sync::Arc;

/// A contiguous row-major `f32` array on a [`Device`]. Cloning is cheap (the data is shared);
/// ops never modify a tensor, they return new ones.
#[derive(Clone)]
pub struct Tensor {
    buf: Arc<Buffer>,
    shape: Shape,
    node: Option<Node>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{}@{}", self.shape, self.device())?;
        if let Some(n) = &self.node {
            write!(f, " (var {})", n.id)?;
        }
        Ok(())
    }
}

impl Tensor {
    /// A tensor from host values in row-major order.
    pub fn from_vec(data: Vec<f32>, shape: impl Into<Shape>, device: Device) -> Result<Tensor> {
        let shape = shape.into();
        if data.len() != shape.numel() {
            return Err(Error::DataLength {
                op: "Tensor::from_vec",
                len: data.len(),
                expected: shape.numel(),
                shape,
            });
        }
        let buf = match device {
            Device::Cpu => Buffer::from_host_vec(data),
            _ => ops::backend(device)?.upload(&data)?,
        };
        Ok(Tensor::from_buffer(buf, shape))
    }

    /// A tensor of `shape` filled with `value`.
    pub fn full(value: f32, shape: impl Into<Shape>, device: Device) -> Result<Tensor> {
        let shape = shape.into();
        let buf = ops::backend(device)?.fill(shape.numel(), value)?;
        Ok(Tensor::from_buffer(buf, shape))
    }

    /// A tensor of zeros.
    pub fn zeros(shape: impl Into<Shape>, device: Device) -> Result<Tensor> {
        Tensor::full(0.0, shape, device)
    }

    /// A one-element tensor of shape `[]`.
    pub fn scalar(value: f32, device: Device) -> Result<Tensor> {
        Tensor::full(value, Shape::new(vec![]), device)
    }

    /// Normal deviates `mean + std·N(0,1)` drawn from `rng` (the same stream on every device).
    pub fn randn(
        shape: impl Into<Shape>,
        mean: f32,
        std: f32,
        rng: &mut Rng,
        device: Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let data = (0..shape.numel())
            .map(|_| (mean as f64 + std as f64 * rng.normal()) as f32)
            .collect();
        Tensor::from_vec(data, shape, device)
    }

    /// Uniform deviates in `[lo, hi)` drawn from `rng`.
    pub fn rand_uniform(
        shape: impl Into<Shape>,
        lo: f32,
        hi: f32,
        rng: &mut Rng,
        device: Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let data = (0..shape.numel())
            .map(|_| (lo as f64 + (hi - lo) as f64 * rng.uniform()) as f32)
            .collect();
        Tensor::from_vec(data, shape, device)
    }

    pub(crate) fn from_buffer(buf: Buffer, shape: Shape) -> Tensor {
        debug_assert_eq!(buf.len(), shape.numel());
        Tensor {
            buf: Arc::new(buf),
            shape,
            node: None,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    /// Where the data lives.
    pub fn device(&self) -> Device {
        self.buf.device()
    }

    /// The device buffer (for backends and ops).
    pub(crate) fn buffer(&self) -> &Buffer {
        &self.buf
    }

    /// The shared buffer itself (tests observe when it is freed).
    #[cfg(test)]
    pub(crate) fn buf_arc(&self) -> Arc<Buffer> {
        self.buf.clone()
    }

    /// The backend of this tensor's device.
    pub(crate) fn backend(&self) -> Result<&'static dyn Backend> {
        ops::backend(self.device())
    }

    /// The values, copied to the host.
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        self.backend()?.download(&self.buf)
    }

    /// The one value of a one-element tensor.
    pub fn to_scalar(&self) -> Result<f32> {
        if self.numel() != 1 {
            return Err(Error::Shape {
                op: "to_scalar",
                msg: format!("expected one element, got shape {}", self.shape),
            });
        }
        Ok(self.to_vec()?[0])
    }

    /// A copy on `device` (the same tensor, untracked, if it is already there).
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        if device == self.device() {
            return Ok(self.detach());
        }
        Tensor::from_vec(self.to_vec()?, self.shape.clone(), device)
    }

    /// The same data with no autograd history: gradients do not flow through it.
    pub fn detach(&self) -> Tensor {
        Tensor {
            buf: self.buf.clone(),
            shape: self.shape.clone(),
            node: None,
        }
    }

    /// The autograd node, when the tensor is tracked by a tape.
    pub(crate) fn node(&self) -> Option<&Node> {
        self.node.as_ref()
    }

    /// True when a tape tracks this tensor.
    pub fn is_tracked(&self) -> bool {
        self.node.is_some()
    }

    pub(crate) fn with_node(mut self, node: Node) -> Tensor {
        self.node = Some(node);
        self
    }

    /// Same data, new shape with the same number of elements (differentiable).
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        if shape.numel() != self.numel() {
            return Err(Error::Shape {
                op: "reshape",
                msg: format!("cannot view {} as {}", self.shape, shape),
            });
        }
        let out = Tensor {
            buf: self.buf.clone(),
            shape,
            node: None,
        };
        crate::autograd::record(out, &[self], crate::ops::elementwise::Reshape::new(self))
    }

    /// True when both tensors have identical shapes and bitwise identical values.
    pub fn bitwise_eq(&self, other: &Tensor) -> Result<bool> {
        Ok(self.shape == other.shape
            && self
                .to_vec()?
                .iter()
                .zip(other.to_vec()?.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_devices_are_errors_naming_the_device() {
        // No machine has 97 GPUs: whatever the build, this is an error saying why.
        let d = Device::Cuda(97);
        let e = Tensor::zeros([2], d).unwrap_err().to_string();
        assert!(e.contains("cuda:97") && e.contains("unavailable"), "{e}");
        // The emulator is always built.
        let t = Tensor::full(1.5, [3], Device::Emu).unwrap();
        assert_eq!(t.to_vec().unwrap(), [1.5; 3]);
        assert_eq!(t.device(), Device::Emu);
    }

    #[test]
    fn scalars_and_host_round_trips() {
        let t = Tensor::from_vec(vec![1.5, -2.0, 3.25], [3, 1], Device::Cpu).unwrap();
        assert_eq!(t.to_vec().unwrap(), [1.5, -2.0, 3.25]);
        assert_eq!(t.dims(), [3, 1]);
        let e = t.to_scalar().unwrap_err().to_string();
        assert!(e.contains("[3, 1]"), "{e}");
        assert_eq!(
            Tensor::scalar(4.0, Device::Cpu)
                .unwrap()
                .to_scalar()
                .unwrap(),
            4.0
        );
        assert!(t.bitwise_eq(&t.to_device(Device::Cpu).unwrap()).unwrap());
        let mut r1 = Rng::new(9);
        let mut r2 = Rng::new(9);
        let a = Tensor::randn([50], 0.0, 1.0, &mut r1, Device::Cpu).unwrap();
        let b = Tensor::randn([50], 0.0, 1.0, &mut r2, Device::Cpu).unwrap();
        assert!(a.bitwise_eq(&b).unwrap());
    }
}
