//! Tests of the networks, the builder file and the transformer.

mod builder;
mod learning;
mod nets;
mod transformer;

use crate::tensor::{Device, Tensor};

const CPU: Device = Device::Cpu;

/// A `[n, d, h, w, c]` volume with value `f(sample, z, y, x, channel)`.
fn volume(dims: [usize; 5], f: impl Fn(usize, usize, usize, usize, usize) -> f32) -> Tensor {
    let [n, d, h, w, c] = dims;
    let mut v = Vec::with_capacity(n * d * h * w * c);
    for i in 0..n {
        for z in 0..d {
            for y in 0..h {
                for x in 0..w {
                    for ch in 0..c {
                        v.push(f(i, z, y, x, ch));
                    }
                }
            }
        }
    }
    Tensor::from_vec(v, dims, CPU).unwrap()
}

/// A smooth Gaussian blob in a `[1, d, h, w, 1]` volume, centred at `(z, y, x)`.
fn blob([d, h, w]: [usize; 3], centre: [f32; 3], width: f32) -> Tensor {
    volume([1, d, h, w, 1], |_, z, y, x, _| {
        let d2 = [z, y, x]
            .iter()
            .zip(centre)
            .map(|(&p, c)| (p as f32 - c).powi(2))
            .sum::<f32>();
        (-d2 / width).exp()
    })
}

/// Values of a CPU tensor.
fn vals(t: &Tensor) -> Vec<f32> {
    t.to_vec().unwrap()
}

/// Largest absolute difference of two equally long value lists.
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
