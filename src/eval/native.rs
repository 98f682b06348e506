//! `eval`'s physical-space columns: each pair's registration as a world map (the network's
//! sampling grid through both scans' network-grid geometry, [`network_solution`]), refined per
//! pair with `--refine`, and scored at the target scan's native resolution:
//! - `ncc_native_before`, `ncc_native`: Pearson correlation of the target scan with the source
//!   scan carried onto its native grid (0 outside the source's box), as the scans lie in world
//!   space and through the map;
//! - `dice_native_before`, `dice_native` (with masks): Dice of the source's lung mask carried
//!   onto the target's native grid (nearest), as the scans lie in world space and through the
//!   map, against the target's lung mask;
//! - `tre_before`, `tre`, `tre_p90` (when every pair's scans have corresponding landmark files
//!   in `landmarks/` beside the data, [`LandmarkIndex`]): mean landmark error in mm, unregistered
//!   and through the map, and its 90th percentile;
//! - `folding_native_pct`: voxels of the target's native grid where the map folds;
//! - with `--refine`, also `ncc_native_network`, `dice_native_network` and `tre_network`: the
//!   network alone, before its refinement.

use crate::data::landmarks::{LandmarkIndex, read_landmark_pair};
use crate::data::preprocess::binarize_mask;
use crate::data::volume::Volume;
use crate::eval::EvalResult;
use crate::eval::context::EvalContext;
use crate::metrics::{TreStats, dice, landmark_errors, pearson_r};
use crate::registration::{
    DisplacementField, Grid, Interp, OptimizeOptions, Pair as ScanPair, Solution, network_grid,
    network_solution, refine,
};
use std::collections::HashMap;
use std::rc::Rc;

/// A scan at its native resolution, with what scoring needs.
pub struct NativeScan {
    pub image: Volume,
    /// The lung mask, binarized (lungs 1, the rest 0).
    pub mask: Option<Volume>,
    /// The scan's geometry on the network grid.
    pub grid: Grid,
}

/// How `eval` scores in physical space.
pub struct Physical {
    pub landmarks: LandmarkIndex,
    /// Whether every pair has landmarks (the TRE columns).
    pub tre: bool,
    /// Whether every scan has a mask (the Dice columns).
    pub masks: bool,
    /// The refinement of each prediction (`--refine`).
    pub refine: Option<OptimizeOptions>,
}

/// Scans of the last pair, kept for the next (the atlas, a chain's next source).
pub type ScanCache = HashMap<String, Rc<NativeScan>>;

fn scan(ctx: &EvalContext, id: &str, masks: bool, cache: &ScanCache) -> EvalResult<Rc<NativeScan>> {
    if let Some(s) = cache.get(id) {
        return Ok(s.clone());
    }
    let (image, mask) = if masks {
        let (i, m) = ctx.dataset().load_pair(id)?;
        (i, Some(binarize_mask(m)))
    } else {
        (ctx.dataset().load_image(id)?, None)
    };
    let grid = network_grid(&image, ctx.grid())?;
    Ok(Rc::new(NativeScan { image, mask, grid }))
}

/// The named physical-space scores of one pair whose network sampling grid is `sampling`.
pub fn score(
    ctx: &EvalContext,
    pair: &crate::data::generators::Pair,
    sampling: &[f32],
    phys: &Physical,
    cache: &mut ScanCache,
) -> EvalResult<Vec<(&'static str, f64)>> {
    let src = scan(ctx, &pair.src, phys.masks, cache)?;
    let tgt = scan(ctx, &pair.tgt, phys.masks, cache)?;
    cache.clear();
    cache.insert(pair.src.clone(), src.clone());
    cache.insert(pair.tgt.clone(), tgt.clone());
    let opts = phys.refine.clone().unwrap_or_default();
    let dense = Grid::of(&tgt.image).at_spacing(opts.levels_mm[0] * opts.control_voxels);
    let network = network_solution(
        sampling,
        &tgt.grid,
        &src.grid,
        Grid::of(&tgt.image).centre(),
        dense,
    );
    let refined = match &phys.refine {
        Some(o) => {
            let p = ScanPair {
                fixed: &tgt.image,
                moving: &src.image,
                fixed_mask: None,
            };
            Some(refine(&p, o, &network, &mut |_| true)?)
        }
        None => None,
    };
    let last = refined.as_ref().unwrap_or(&network);
    let field = last.displacement_on(&Grid::of(&tgt.image));
    let mut out = vec![];
    let net_field = refined
        .as_ref()
        .map(|_| network.displacement_on(&Grid::of(&tgt.image)));
    let ncc = |f: &DisplacementField| {
        pearson_r(
            &tgt.image.data,
            &f.warp(&src.image, Interp::Linear, 0.0).data,
        )
    };
    out.push((
        "ncc_native_before",
        ncc(&DisplacementField::zeros(Grid::of(&tgt.image))),
    ));
    if let Some(net) = &net_field {
        out.push(("ncc_native_network", ncc(net)));
    }
    out.push(("ncc_native", ncc(&field)));
    if let (Some(fm), Some(mm)) = (&tgt.mask, &src.mask) {
        let carried =
            |f: &DisplacementField| dice(&f.warp(mm, Interp::Nearest, 0.0).data, &fm.data);
        out.push((
            "dice_native_before",
            carried(&DisplacementField::zeros(Grid::of(fm))),
        ));
        if let Some(net) = &net_field {
            out.push(("dice_native_network", carried(net)));
        }
        out.push(("dice_native", carried(&field)));
    }
    if phys.tre
        && let Some((lf, lm)) = phys.landmarks.pair(&pair.tgt, &pair.src)
    {
        let (f, m) = read_landmark_pair((lf, Some(&tgt.image)), (lm, Some(&src.image)))?;
        let through = |s: &Solution| {
            let mapped: Vec<[f64; 3]> = f.iter().map(|&p| s.map_point(p)).collect();
            TreStats::of(&landmark_errors(&mapped, &m))
        };
        out.push(("tre_before", TreStats::of(&landmark_errors(&f, &m)).mean));
        if refined.is_some() {
            out.push(("tre_network", through(&network).mean));
        }
        let t = through(last);
        out.push(("tre", t.mean));
        out.push(("tre_p90", t.p90));
    }
    out.push(("folding_native_pct", field.folding_pct()));
    Ok(out)
}
