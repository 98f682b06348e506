//! The CPU backend: multi-threaded (rayon) Rust, and the reference for every other backend.
//!
//! The math of each op family lives beside the op, in `crate::ops::<family>::cpu`, as plain
//! functions over slices; this file only unwraps buffers and dispatches. Every parallel loop
//! splits its work into pieces whose boundaries do not depend on the number of threads, and
//! every reduction adds those pieces in a fixed order, so results are bitwise identical run
//! after run and for any `RAYON_NUM_THREADS`.

use super::*;
use crate::ops::{adam, conv3d, dense, elementwise, loss, norm, resample, warp};

/// The CPU backend (stateless; scratch memory is per call or per thread).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

fn out(v: Vec<f32>) -> Result<Buffer> {
    Ok(Buffer::from_host_vec(v))
}

impl Backend for CpuBackend {
    fn device(&self) -> Device {
        Device::Cpu
    }

    fn upload(&self, data: &[f32]) -> Result<Buffer> {
        out(data.to_vec())
    }
    fn download(&self, buf: &Buffer) -> Result<Vec<f32>> {
        Ok(buf.host()?.to_vec())
    }
    fn fill(&self, len: usize, value: f32) -> Result<Buffer> {
        out(vec![value; len])
    }
    fn broadcast_scalar(&self, scalar: &Buffer, len: usize) -> Result<Buffer> {
        let s = scalar.host()?;
        out(vec![s[0]; len])
    }

    fn unary(&self, op: Unary, x: &Buffer) -> Result<Buffer> {
        out(elementwise::cpu::unary(op, x.host()?))
    }
    fn unary_bwd(&self, op: Unary, x: &Buffer, dy: &Buffer) -> Result<Buffer> {
        out(elementwise::cpu::unary_bwd(op, x.host()?, dy.host()?))
    }
    fn binary(&self, op: Binary, a: &Buffer, b: &Buffer) -> Result<Buffer> {
        out(elementwise::cpu::binary(op, a.host()?, b.host()?))
    }
    fn bias_add(&self, x: &Buffer, bias: &Buffer, c: usize) -> Result<Buffer> {
        out(elementwise::cpu::bias_add(x.host()?, bias.host()?, c))
    }
    fn channel_sum(&self, x: &Buffer, c: usize) -> Result<Buffer> {
        out(elementwise::cpu::channel_sum(x.host()?, c))
    }
    fn channel_mul(&self, x: &Buffer, scale: &Buffer, g: VolGeom) -> Result<Buffer> {
        out(elementwise::cpu::channel_mul(x.host()?, scale.host()?, g))
    }
    fn channel_mul_bwd(
        &self,
        x: &Buffer,
        scale: &Buffer,
        dy: &Buffer,
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)> {
        let (dx, ds) = elementwise::cpu::channel_mul_bwd(x.host()?, scale.host()?, dy.host()?, g);
        Ok((Buffer::from_host_vec(dx), Buffer::from_host_vec(ds)))
    }

    fn conv3d(
        &self,
        x: &Buffer,
        w: &Buffer,
        bias: Option<&Buffer>,
        g: &Conv3dGeom,
    ) -> Result<Buffer> {
        let bias = match bias {
            Some(b) => Some(b.host()?),
            None => None,
        };
        out(conv3d::cpu::forward(x.host()?, w.host()?, bias, g))
    }
    fn conv3d_bwd_data(&self, dy: &Buffer, w: &Buffer, g: &Conv3dGeom) -> Result<Buffer> {
        out(conv3d::cpu::backward_data(dy.host()?, w.host()?, g))
    }
    fn conv3d_bwd_filter(&self, x: &Buffer, dy: &Buffer, g: &Conv3dGeom) -> Result<Buffer> {
        out(conv3d::cpu::backward_filter(x.host()?, dy.host()?, g))
    }

    fn norm_stats(&self, x: &Buffer, g: NormGeom) -> Result<(Buffer, Buffer)> {
        let (m, v) = norm::cpu::stats(x.host()?, g);
        Ok((Buffer::from_host_vec(m), Buffer::from_host_vec(v)))
    }
    fn norm_apply(
        &self,
        x: &Buffer,
        mean: &Buffer,
        var: &Buffer,
        gamma: Option<&Buffer>,
        beta: Option<&Buffer>,
        eps: f32,
        g: NormGeom,
    ) -> Result<Buffer> {
        let gamma = opt_host(gamma)?;
        let beta = opt_host(beta)?;
        out(norm::cpu::apply(
            x.host()?,
            mean.host()?,
            var.host()?,
            gamma,
            beta,
            eps,
            g,
        ))
    }
    fn norm_bwd(
        &self,
        x: &Buffer,
        mean: &Buffer,
        var: &Buffer,
        gamma: Option<&Buffer>,
        dy: &Buffer,
        eps: f32,
        batch_stats: bool,
        g: NormGeom,
    ) -> Result<(Buffer, Buffer, Buffer)> {
        let (dx, dg, db) = norm::cpu::backward(
            x.host()?,
            mean.host()?,
            var.host()?,
            opt_host(gamma)?,
            dy.host()?,
            eps,
            batch_stats,
            g,
        );
        Ok((
            Buffer::from_host_vec(dx),
            Buffer::from_host_vec(dg),
            Buffer::from_host_vec(db),
        ))
    }

    fn upsample_nearest(&self, x: &Buffer, g: UpsampleGeom) -> Result<Buffer> {
        out(resample::cpu::upsample(x.host()?, g))
    }
    fn upsample_nearest_bwd(&self, dy: &Buffer, g: UpsampleGeom) -> Result<Buffer> {
        out(resample::cpu::upsample_bwd(dy.host()?, g))
    }
    fn max_pool(&self, x: &Buffer, g: PoolGeom) -> Result<Buffer> {
        out(resample::cpu::max_pool(x.host()?, g))
    }
    fn max_pool_bwd(&self, x: &Buffer, dy: &Buffer, g: PoolGeom) -> Result<Buffer> {
        out(resample::cpu::max_pool_bwd(x.host()?, dy.host()?, g))
    }
    fn global_avg_pool(&self, x: &Buffer, g: VolGeom) -> Result<Buffer> {
        out(resample::cpu::global_avg_pool(x.host()?, g))
    }
    fn global_avg_pool_bwd(&self, dy: &Buffer, g: VolGeom) -> Result<Buffer> {
        out(resample::cpu::global_avg_pool_bwd(dy.host()?, g))
    }
    fn concat_channels(&self, parts: &[&Buffer], cs: &[usize], rows: usize) -> Result<Buffer> {
        let parts = parts.iter().map(|p| p.host()).collect::<Result<Vec<_>>>()?;
        out(resample::cpu::concat_channels(&parts, cs, rows))
    }
    fn split_channels(&self, x: &Buffer, cs: &[usize], rows: usize) -> Result<Vec<Buffer>> {
        Ok(resample::cpu::split_channels(x.host()?, cs, rows)
            .into_iter()
            .map(Buffer::from_host_vec)
            .collect())
    }
    fn matmul(&self, a: &Buffer, b: &Buffer, g: MatmulGeom) -> Result<Buffer> {
        out(dense::cpu::matmul(a.host()?, b.host()?, g))
    }

    fn cumsum(&self, x: &Buffer, g: VolGeom, axis: usize, reverse: bool) -> Result<Buffer> {
        out(warp::cpu::cumsum(x.host()?, g, axis, reverse))
    }
    fn affine_grid(
        &self,
        grid: &Buffer,
        theta: &Buffer,
        centre: [f32; 3],
        g: VolGeom,
    ) -> Result<Buffer> {
        out(warp::cpu::affine_grid(
            grid.host()?,
            theta.host()?,
            centre,
            g,
        ))
    }
    fn affine_grid_bwd(
        &self,
        grid: &Buffer,
        theta: &Buffer,
        dy: &Buffer,
        centre: [f32; 3],
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)> {
        let (dg, dt) =
            warp::cpu::affine_grid_bwd(grid.host()?, theta.host()?, dy.host()?, centre, g);
        Ok((Buffer::from_host_vec(dg), Buffer::from_host_vec(dt)))
    }
    fn grid_sample(&self, img: &Buffer, coords: &Buffer, g: SampleGeom) -> Result<Buffer> {
        out(warp::cpu::grid_sample(img.host()?, coords.host()?, g))
    }
    fn grid_sample_bwd(
        &self,
        img: &Buffer,
        coords: &Buffer,
        dy: &Buffer,
        g: SampleGeom,
    ) -> Result<(Buffer, Buffer)> {
        let (di, dc) = warp::cpu::grid_sample_bwd(img.host()?, coords.host()?, dy.host()?, g);
        Ok((Buffer::from_host_vec(di), Buffer::from_host_vec(dc)))
    }
    fn grid_sample_bwd_coords(
        &self,
        img: &Buffer,
        coords: &Buffer,
        dy: &Buffer,
        g: SampleGeom,
    ) -> Result<Buffer> {
        out(warp::cpu::grid_sample_bwd_coords(
            img.host()?,
            coords.host()?,
            dy.host()?,
            g,
        ))
    }

    fn sum(&self, x: &Buffer) -> Result<Buffer> {
        out(vec![loss::cpu::sum(x.host()?)])
    }
    fn l1(&self, x: &Buffer) -> Result<Buffer> {
        out(vec![loss::cpu::l1(x.host()?)])
    }
    fn l1_bwd(&self, x: &Buffer, dl: &Buffer) -> Result<Buffer> {
        out(loss::cpu::l1_bwd(x.host()?, dl.host()?[0]))
    }
    fn loss(&self, kind: LossKind, a: &Buffer, b: &Buffer, g: VolGeom) -> Result<Buffer> {
        out(vec![loss::cpu::loss(kind, a.host()?, b.host()?, g)])
    }
    fn loss_bwd(
        &self,
        kind: LossKind,
        a: &Buffer,
        b: &Buffer,
        dl: &Buffer,
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)> {
        let (da, db) = loss::cpu::loss_bwd(kind, a.host()?, b.host()?, dl.host()?[0], g);
        Ok((Buffer::from_host_vec(da), Buffer::from_host_vec(db)))
    }

    fn adam(
        &self,
        param: &Buffer,
        grad: &Buffer,
        m: &Buffer,
        v: &Buffer,
        step: AdamStep,
    ) -> Result<(Buffer, Buffer, Buffer)> {
        let (p, m, v) = adam::cpu::update(param.host()?, grad.host()?, m.host()?, v.host()?, step);
        Ok((
            Buffer::from_host_vec(p),
            Buffer::from_host_vec(m),
            Buffer::from_host_vec(v),
        ))
    }
}

fn opt_host(b: Option<&Buffer>) -> Result<Option<&[f32]>> {
    b.map(|b| b.host()).transpose()
}
