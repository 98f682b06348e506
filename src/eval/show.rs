//! `voxflow show NAME --weights chkpt_XX.safetensors --id ID [--out DIR]`: one registration
//! drawn and exported.
//!
//! Writes into `DIR` (default `<session>/show/<src>/` for a source registered to the atlas,
//! else `<session>/show/<src>_to_<tgt>/`), with `XX` the checkpoint's epoch:
//! - the observation figures of SPEC section 8 ([`write_observations`]): `src_XX.png`,
//!   `tgt_XX.png`, `pred_XX.png`, `grad_{x,y,z}_XX.png`, `pred_seg_XX.png` (with masks) and
//!   `overview_XX.png`;
//! - NIfTI-1 volumes on the network grid, all with the **target's** geometry on that grid
//!   (the geometry preprocessing gives it: reoriented to the identity direction, or for an
//!   oblique scan the nearest to it, so the origin is the world position of its first voxel
//!   after reorientation, and the spacing of its physical extent over the grid), so nibabel,
//!   ITK-SNAP or 3D Slicer overlay them on the original target scan: `tgt_XX.nii.gz` (the
//!   preprocessed target, float32), `warped_XX.nii.gz` (the warped source, float32),
//!   `warped_seg_XX.nii.gz` (the warped source lung mask binarized at 0.5, uint8; with masks);
//! - on the target scan's **native** grid, the registration in physical space (SPEC section
//!   10): `displacement_XX.nii.gz`, the world displacement `u(x)` (LPS mm) that sends target
//!   point `x` to source point `x + u(x)`, a NIfTI DISPVECT field in ITK's
//!   `DisplacementFieldTransform` convention (so `sitk.DisplacementFieldTransform` of it,
//!   applied to the source scan, gives `warped_native_XX.nii.gz`), whatever the two scans'
//!   boxes; and `warped_native_XX.nii.gz`, the source scan through it at full resolution.
//!
//! `ID` is a source scan id — paired with the atlas by the atlas generators, else with the
//! target the session's generator gives it in the first id list (test, val, train) holding
//! it — or an explicit `SRC->TGT` pair.

use crate::data::generators::{Pair, VolumeSource, single_pass};
use crate::data::io::metaimage::ElementType;
use crate::data::io::nifti;
use crate::data::preprocess::preprocess_image;
use crate::eval::context::{
    EvalContext, InferenceOptions, log_error, session_logger, with_geometry,
};
use crate::eval::{EvalError, EvalResult};
use crate::fsutil::file_name_for;
use crate::registration::{Grid, Interp, network_grid, network_solution};
use crate::report::observe::{Observation, write_observations};
use crate::session::log::Logger;
use crate::session::{IdSet, read_ids};
use std::path::PathBuf;

/// What `voxflow show` was asked to do.
#[derive(Clone, Debug)]
pub struct ShowOptions {
    pub inference: InferenceOptions,
    /// A source scan id, or `SRC->TGT`.
    pub id: String,
    /// Output directory (default `<session>/show/<src>/` or `<session>/show/<src>_to_<tgt>/`).
    pub out: Option<PathBuf>,
}

/// What `voxflow show` wrote.
#[derive(Clone, Debug)]
pub struct ShowReport {
    pub pair: Pair,
    pub dir: PathBuf,
    /// Every file written, PNGs first.
    pub files: Vec<PathBuf>,
}

/// The pair `id` names (see the module documentation).
fn resolve_pair(ctx: &EvalContext, id: &str) -> EvalResult<Pair> {
    let known = |s: &str| ctx.dataset().image_path(s).map(|_| ());
    if let Some((src, tgt)) = id.split_once("->") {
        known(src)?;
        known(tgt)?;
        return Ok(Pair {
            src: src.into(),
            tgt: tgt.into(),
        });
    }
    known(id)?;
    let kind = ctx.net.config.generator;
    if kind.uses_atlas() {
        let atlas = ctx.net.config.atlas_id.clone().ok_or_else(|| {
            EvalError::Usage(format!(
                "{}: the {} generator needs `atlas_id`",
                ctx.net.paths.config().display(),
                kind.name()
            ))
        })?;
        if atlas == id {
            return Err(EvalError::Usage(format!(
                "scan {id} is the atlas of session {}: give another source, or a pair SRC->TGT",
                ctx.net.paths.name()
            )));
        }
        return Ok(Pair {
            src: id.into(),
            tgt: atlas,
        });
    }
    for set in [IdSet::Test, IdSet::Val, IdSet::Train] {
        let ids = read_ids(&ctx.net.paths.ids(set))?;
        if ids.iter().any(|i| i == id)
            && let Some(p) = single_pass(kind, &ids, None)?
                .into_iter()
                .find(|p| p.src == id)
        {
            return Ok(p);
        }
    }
    Err(EvalError::Usage(format!(
        "scan {id} is in none of the id lists of session {}: give the pair as SRC->TGT",
        ctx.net.paths.name()
    )))
}

/// A scan id as (part of) a folder name: [`file_name_for`], with an id of dots alone (`.`,
/// `..`) escaped too, which would otherwise name the folder itself or its parent.
fn folder_name(id: &str) -> String {
    let name = file_name_for(id);
    match name.bytes().all(|b| b == b'.') {
        true => name.replace('.', "%2E"),
        false => name,
    }
}

/// Runs `voxflow show` (see the module documentation); an error is also appended to the
/// session's logs.txt.
pub fn show(opts: &ShowOptions) -> EvalResult<ShowReport> {
    let mut log = session_logger(&opts.inference)?;
    let result = show_logged(opts, &mut log);
    log_error(&mut log, result)
}

fn show_logged(opts: &ShowOptions, log: &mut Logger) -> EvalResult<ShowReport> {
    let inf = &opts.inference;
    let ctx = EvalContext::open(inf, log)?;
    let pair = resolve_pair(&ctx, &opts.id)?;
    let dims = ctx.grid();
    let epoch = ctx.net.meta.epoch;
    let (batch, out) = ctx.run(&pair)?;
    let grid = out.grid.to_vec()?;
    let (src, tgt) = (batch.src.to_vec()?, batch.tgt.to_vec()?);
    let warped = out.deformed.to_vec()?;
    let warped_seg = if ctx.has_mask(&pair.src) {
        Some(ctx.warp(&ctx.source.mask(&pair.src)?, &out.grid)?)
    } else {
        None
    };
    let dir = opts.out.clone().unwrap_or_else(|| {
        let name = if ctx.net.config.generator.uses_atlas() && !opts.id.contains("->") {
            folder_name(&pair.src)
        } else {
            format!("{}_to_{}", folder_name(&pair.src), folder_name(&pair.tgt))
        };
        ctx.net.paths.dir().join("show").join(name)
    });
    write_observations(
        &dir,
        epoch,
        &Observation {
            dims,
            src: &src,
            tgt: &tgt,
            warped: &warped,
            gradient: &out.gradient.to_vec()?,
            grid: &grid,
            warped_seg: warped_seg.as_deref(),
        },
    )?;
    let mut files: Vec<PathBuf> = ["src", "tgt", "pred", "grad_x", "grad_y", "grad_z"]
        .into_iter()
        .chain(warped_seg.as_ref().map(|_| "pred_seg"))
        .chain(["overview"])
        .map(|n| dir.join(format!("{n}_{epoch:02}.png")))
        .collect();

    // The target's geometry on the network grid, as preprocessing gives it.
    let tgt_path = ctx.dataset().image_path(&pair.tgt)?.to_path_buf();
    let raw_target = ctx.dataset().load_image(&pair.tgt)?;
    let target = preprocess_image(&raw_target, dims)?;
    let name = |n: &str| dir.join(format!("{n}_{epoch:02}.nii.gz"));
    let volume = |data: Vec<f32>| with_geometry(&target, data, &tgt_path);
    let mut write = |n: &str, data: Vec<f32>, ty: ElementType| -> EvalResult<()> {
        let p = name(n);
        nifti::write(&p, &volume(data)?, ty)?;
        files.push(p);
        Ok(())
    };
    write("tgt", tgt, ElementType::F32)?;
    write("warped", warped, ElementType::F32)?;
    if let Some(seg) = warped_seg {
        let bin = seg.iter().map(|&v| f32::from(u8::from(v > 0.5))).collect();
        write("warped_seg", bin, ElementType::U8)?;
    }
    // The map in physical space, on the target scan's native grid.
    let raw_source = ctx.dataset().load_image(&pair.src)?;
    let fixed = Grid::of(&raw_target);
    let solution = network_solution(
        &grid,
        &Grid::of(&target),
        &network_grid(&raw_source, dims)?,
        fixed.centre(),
        fixed.at_spacing(f64::MAX),
    );
    let field = solution.displacement_on(&fixed);
    let p = name("displacement");
    field.write_nifti(&p)?;
    files.push(p);
    let p = name("warped_native");
    nifti::write(
        &p,
        &field.warp(&raw_source, Interp::Linear, 0.0),
        ElementType::F32,
    )?;
    files.push(p);
    log.line(&format!(
        "show {} with {} (epoch {epoch}): {} files in {}",
        pair.label(),
        ctx.net.checkpoint.display(),
        files.len(),
        dir.display()
    ));
    Ok(ShowReport { pair, dir, files })
}

#[cfg(test)]
mod tests {
    #[test]
    fn folder_names_never_leave_the_show_folder() {
        assert_eq!(super::folder_name(".."), "%2E%2E");
        assert_eq!(super::folder_name("1.3.6"), "1.3.6");
        assert_eq!(super::folder_name("a/b"), "a%2Fb");
    }
}
