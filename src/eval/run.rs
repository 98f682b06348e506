//! `voxflow eval NAME --weights chkpt_XX.safetensors [--set test|val|train]`: runs the network
//! over one id set (each sample once, paired as the session's generator pairs them), writes
//! `scores/<set>_scores.csv` (see [`crate::eval::scores`]) and prints the summary table.
//!
//! Per sample (`src->tgt`), on the network grid — the grid the network registers on, where
//! the training loss and validation Dice are computed:
//! - `mse`, `cross_correlation` (r²), `ncc` (Pearson's r) of the warped source image and the
//!   target image (both preprocessed: z-scored);
//! - `dice`: Dice of the warped source lung mask (trilinear, binarized at 0.5) and the target
//!   mask; `dice_before`: Dice of the unwarped masks;
//! - `hausdorff`, `hd95`, `msd`: surface distances of those two masks in mm, with the
//!   target's voxel spacing on the network grid (the scan's physical extent over the grid);
//! - `folding_pct`, `sdlogj`: from the Jacobian determinant of the sampling grid;
//! - `dice_<label>` (when the masks hold more than one label, e.g. LUNA16's 3 and 4 for the
//!   right and left lung; LUNA16's 3, 4 and 5 are then always listed): Dice per label, each
//!   label's indicator warped and binarized on its own; a label absent from both masks of a
//!   sample scores 1;
//! - `dice_1mm`: Dice after mapping the warped (soft) mask back to the target's 1 mm isotropic
//!   grid of preprocessing step 1 (linear, corner-aligned, binarized at 0.5), against the
//!   target's mask on that grid: the overlap at the resolution of the data rather than of the
//!   network.
//!
//! Masks are the dataset's lung masks (LUNA16 `seg-lungs-LUNA16`, or the phantom's), used
//! whatever the generator; without masks only the image and deformation columns are written.

use crate::data::generators::Pair;
use crate::data::landmarks::LandmarkIndex;
use crate::data::preprocess::{Interp, binarize_mask, resize_to_grid};
use crate::eval::context::{
    EvalContext, InferenceOptions, ScanLabels, log_error, session_logger, with_geometry,
};
use crate::eval::native::{self, Physical, ScanCache};
use crate::eval::scores::{BASE_COLUMNS, IMAGE_COLUMNS, ScoreTable, format_summary, write_scores};
use crate::eval::scores_meta::{self, ScoresMeta};
use crate::eval::{EvalError, EvalResult};
use crate::metrics::{
    binarize, dice, folding_pct, indicator, jacobian_determinants, labels, mse, pearson_r, sdlogj,
    surface_distances,
};
use crate::registration::OptimizeOptions;
use crate::session::IdSet;
use crate::session::log::Logger;
use crate::session::log_cache_events;
use crate::session::paths::epoch_label;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What `voxflow eval` was asked to do.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    pub inference: InferenceOptions,
    pub set: IdSet,
    /// Where to write the score table (default: `scores/<set>_scores.csv` in the session, or
    /// `scores/<set>_refined_scores.csv` with `refine`).
    pub out: Option<PathBuf>,
    /// Refines every prediction by instance optimization before the physical-space scores.
    pub refine: Option<OptimizeOptions>,
}

/// What `voxflow eval` wrote and printed.
#[derive(Clone, Debug)]
pub struct EvalReport {
    /// The score table written (normally `scores/<set>_scores.csv`).
    pub path: PathBuf,
    pub table: ScoreTable,
    /// The printed summary: header lines and the statistics table.
    pub summary: String,
}

/// One sample's metrics before the table's columns are known.
struct SampleScores {
    id: String,
    /// The columns of [`BASE_COLUMNS`] (with masks) or [`IMAGE_COLUMNS`] (without).
    base: Vec<f64>,
    per_label: Vec<(f32, f64)>,
    dice_1mm: Option<f64>,
    /// The physical-space columns ([`native`]), named.
    native: Vec<(&'static str, f64)>,
}

/// The name of a label's Dice column: `dice_3`.
fn label_column(label: f32) -> String {
    format!("dice_{label}")
}

/// Scores one pair (see the module documentation). `cache` keeps the label maps of the last
/// pair's scans (the atlas, or the next source of a chain of pairs).
fn score_pair(
    ctx: &EvalContext,
    pair: &Pair,
    (masks, phys): (bool, &Physical),
    (cache, scans): (&mut HashMap<String, Rc<ScanLabels>>, &mut ScanCache),
) -> EvalResult<SampleScores> {
    let dims = ctx.grid();
    let (batch, out) = ctx.run(pair)?;
    let (warped, tgt) = (out.deformed.to_vec()?, batch.tgt.to_vec()?);
    let (m, r) = (mse(&warped, &tgt), pearson_r(&warped, &tgt));
    let sampling = out.grid.to_vec()?;
    let dets = jacobian_determinants(&sampling, dims);
    let (fold, sdl) = (folding_pct(&dets), sdlogj(&dets));
    let native = native::score(ctx, pair, &sampling, phys, scans)?;
    if !masks {
        return Ok(SampleScores {
            id: pair.label(),
            base: vec![m, r * r, r, fold, sdl],
            per_label: vec![],
            dice_1mm: None,
            native,
        });
    }
    let fetch = |id: &str| -> EvalResult<Rc<ScanLabels>> {
        match cache.get(id) {
            Some(l) => Ok(l.clone()),
            None => Ok(Rc::new(ctx.labels(id)?)),
        }
    };
    let (src_l, tgt_l) = (fetch(&pair.src)?, fetch(&pair.tgt)?);
    cache.clear();
    cache.insert(pair.src.clone(), src_l.clone());
    cache.insert(pair.tgt.clone(), tgt_l.clone());

    let src_bin = binarize_mask(src_l.grid.clone()).data;
    let tgt_bin = binarize_mask(tgt_l.grid.clone()).data;
    let soft = ctx.warp(&src_bin, &out.grid)?;
    let surf = surface_distances(
        &binarize(&soft),
        &binarize(&tgt_bin),
        dims,
        tgt_l.grid.spacing,
    );
    let base = vec![
        m,
        r * r,
        r,
        dice(&soft, &tgt_bin),
        surf.hausdorff,
        surf.hd95,
        surf.msd,
        fold,
        sdl,
        dice(&src_bin, &tgt_bin),
    ];
    // Every label of this pair's masks (the table keeps the columns only when the set holds
    // more than one label; a label found in neither mask of a pair is absent here).
    let mut per_label = vec![];
    for l in labels(&[&src_l.grid.data, &tgt_l.grid.data]) {
        let warped_l = ctx.warp(&indicator(&src_l.grid.data, l), &out.grid)?;
        per_label.push((l, dice(&warped_l, &indicator(&tgt_l.grid.data, l))));
    }
    // Back to 1 mm: the soft warped mask carries the target's network-grid geometry.
    let on_grid = with_geometry(&tgt_l.grid, soft, Path::new(&pair.tgt))?;
    let iso = resize_to_grid(&on_grid, tgt_l.iso.dims, Interp::Linear)?;
    let dice_1mm = dice(&iso.data, &binarize_mask(tgt_l.iso.clone()).data);
    Ok(SampleScores {
        id: pair.label(),
        base,
        per_label,
        dice_1mm: Some(dice_1mm),
        native,
    })
}

/// The labels of LUNA16's lung masks (SPEC 5.2: 3 and 4 the lungs, 5 sometimes airway): with
/// multi-label masks their columns are always written, so that the train, val and test
/// tables of a session have the same columns whichever labels their scans happen to hold.
const LUNA_MASK_LABELS: [f32; 3] = [3.0, 4.0, 5.0];

/// Builds the table: base columns, one Dice column per label when the masks hold more than one
/// (those found; all of [`LUNA_MASK_LABELS`] for LUNA16-style masks), then `dice_1mm`.
fn table_of(samples: &[SampleScores], masks: bool) -> EvalResult<ScoreTable> {
    let base: &[&str] = if masks { &BASE_COLUMNS } else { &IMAGE_COLUMNS };
    let mut all: Vec<f32> = samples
        .iter()
        .flat_map(|s| s.per_label.iter().map(|(l, _)| *l))
        .collect();
    all.sort_by(f32::total_cmp);
    all.dedup();
    if all.len() < 2 {
        all.clear();
    } else if all.iter().all(|l| LUNA_MASK_LABELS.contains(l)) {
        all.extend(LUNA_MASK_LABELS);
        all.sort_by(f32::total_cmp);
        all.dedup();
    }
    let mut columns: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    columns.extend(all.iter().map(|&l| label_column(l)));
    if masks {
        columns.push("dice_1mm".into());
    }
    let native: Vec<&str> = samples
        .first()
        .map(|s| s.native.iter().map(|c| c.0).collect())
        .unwrap_or_default();
    columns.extend(native.iter().map(|c| c.to_string()));
    let mut table = ScoreTable::new(columns);
    for s in samples {
        let mut values = s.base.clone();
        for l in &all {
            // A label in neither mask of this sample: both empty, Dice 1.
            let d = s
                .per_label
                .iter()
                .find(|(x, _)| x == l)
                .map_or(1.0, |p| p.1);
            values.push(d);
        }
        values.extend(s.dice_1mm);
        let names: Vec<&str> = s.native.iter().map(|c| c.0).collect();
        if names != native {
            return Err(EvalError::Usage(format!(
                "sample {}: physical-space columns {names:?}, the table's {native:?}",
                s.id
            )));
        }
        values.extend(s.native.iter().map(|c| c.1));
        table.push(s.id.clone(), values).map_err(EvalError::Usage)?;
    }
    Ok(table)
}

/// Runs `voxflow eval` (see the module documentation): scores every sample of the set, writes
/// the table, prints and returns the summary. Everything printed is also appended to the
/// session's logs.txt, and so is an error.
pub fn evaluate(opts: &EvalOptions) -> EvalResult<EvalReport> {
    let mut log = session_logger(&opts.inference)?;
    let result = evaluate_logged(opts, &mut log);
    log_error(&mut log, result)
}

/// For a table written into the session's own scores folder from one of its checkpoints: the
/// checkpoint's place in the session (`checkpoints/chkpt_XX.safetensors`), which `inspect`
/// follows wherever the session is moved or copied.
fn checkpoint_in_session(ctx: &EvalContext, table: &Path) -> Option<PathBuf> {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    let in_scores = table
        .parent()
        .and_then(canon)
        .is_some_and(|d| Some(d) == canon(&ctx.net.paths.scores_dir()));
    let folder = ctx.net.paths.checkpoints_dir();
    let folder = folder.strip_prefix(ctx.net.paths.dir()).ok()?;
    let name = ctx.net.checkpoint.file_name()?;
    (in_scores && ctx.net.paths.owns_checkpoint(&ctx.net.checkpoint)).then(|| folder.join(name))
}

fn evaluate_logged(opts: &EvalOptions, log: &mut Logger) -> EvalResult<EvalReport> {
    let inf = &opts.inference;
    let ctx = EvalContext::open(inf, log)?;
    let set = opts.set;
    let pairs = ctx.pairs(set)?;
    let target = opts.out.clone().unwrap_or_else(|| match opts.refine {
        Some(_) => ctx
            .net
            .paths
            .scores_dir()
            .join(format!("{}_refined_scores.csv", set.name())),
        None => ctx.net.paths.scores(set),
    });
    check_writable(&target)?;
    let masks = masks_for(&ctx, &pairs, set, log);
    let phys = physical(&ctx, &pairs, masks, opts.refine.clone(), log)?;
    let (mut cache, mut scans) = (HashMap::new(), ScanCache::new());
    let mut samples = Vec::with_capacity(pairs.len());
    let start = std::time::Instant::now();
    for (i, pair) in pairs.iter().enumerate() {
        let s = score_pair(&ctx, pair, (masks, &phys), (&mut cache, &mut scans))?;
        let detail = if masks {
            format!(
                "dice {:.4} (before {:.4})  hd95 {:.2} mm  folding {:.3}%",
                s.base[3], s.base[9], s.base[5], s.base[7]
            )
        } else {
            format!("ncc {:.4}  folding {:.3}%", s.base[2], s.base[3])
        };
        let native: Vec<String> = s
            .native
            .iter()
            .filter(|c| c.0 == "dice_native" || c.0 == "tre")
            .map(|c| format!("{} {:.3}", c.0, c.1))
            .collect();
        log.line(&format!(
            "  {}/{}  {}  {detail}  {}",
            i + 1,
            pairs.len(),
            s.id,
            native.join("  ")
        ));
        samples.push(s);
    }
    log_cache_events(&ctx.source, log);
    let table = table_of(&samples, masks)?;
    let path = write_scores(&target, &table)?;
    let checkpoint =
        std::path::absolute(&ctx.net.checkpoint).unwrap_or_else(|_| ctx.net.checkpoint.clone());
    let meta = ScoresMeta {
        format: scores_meta::FORMAT.into(),
        session: ctx.net.paths.name().into(),
        set: set.name().into(),
        checkpoint: checkpoint.clone(),
        checkpoint_in_session: checkpoint_in_session(&ctx, &path),
        checkpoint_crc32c: Some(format!("{:08x}", ctx.net.meta.data_crc32c)),
        epoch: ctx.net.meta.epoch,
        cut_short_after: ctx.net.meta.partial.as_ref().map(|p| p.steps_done),
        grid: ctx.grid(),
        samples: table.rows.len(),
        summary: table.summary(),
    };
    let record = meta.write_beside(&path)?;
    let [d, h, w] = ctx.grid();
    let checkpoint = ctx.net.paths.checkpoint_label(&ctx.net.checkpoint);
    let epoch = epoch_label(ctx.net.meta.epoch, meta.cut_short_after);
    let mut summary = format!(
        "{} set of session {}: {} samples, checkpoint {} ({epoch}), {:.1} s\n\
         metrics on the network grid {d}x{h}x{w} (distances in mm at each target's spacing on \
         that grid)",
        set.name(),
        ctx.net.paths.name(),
        table.rows.len(),
        checkpoint,
        start.elapsed().as_secs_f64()
    );
    if masks {
        summary.push_str("; dice_1mm: warped mask mapped back to the target's 1 mm grid");
    }
    summary.push_str(&format!(
        "\n*_native, tre*: the map in world mm at each target's native resolution{}",
        match &opts.refine {
            Some(o) => format!(
                ", the network's prediction refined by {:?} Adam steps per level ({:?} mm)",
                o.dense_iterations, o.levels_mm
            ),
            None => String::new(),
        }
    ));
    if phys.tre {
        summary.push_str(" (tre: mean landmark error in mm)");
    }
    summary.push_str(&format!("\nscores: {}", path.display()));
    if let Some(r) = record {
        summary.push_str(&format!(" (summary and checkpoint in {})", r.display()));
    }
    summary.push('\n');
    summary.push_str(&format_summary(&table.summary()));
    for line in summary.lines() {
        log.line(line);
    }
    Ok(EvalReport {
        path,
        table,
        summary,
    })
}

/// The physical-space scoring of `pairs`: TRE columns when every pair's scans have
/// corresponding landmark files (a note when only some do).
fn physical(
    ctx: &EvalContext,
    pairs: &[Pair],
    masks: bool,
    refine: Option<OptimizeOptions>,
    log: &mut Logger,
) -> EvalResult<Physical> {
    let landmarks = LandmarkIndex::discover(&ctx.dataset().root.join("landmarks"))?;
    let with = pairs
        .iter()
        .filter(|p| landmarks.pair(&p.tgt, &p.src).is_some())
        .count();
    if with > 0 && with < pairs.len() {
        log.line(&format!(
            "note: {} of the {} pairs have corresponding landmarks (landmarks/ beside the \
             data): the table leaves out the TRE columns",
            with,
            pairs.len()
        ));
    }
    Ok(Physical {
        tre: with == pairs.len() && with > 0,
        landmarks,
        masks,
        refine: refine.map(|o| OptimizeOptions {
            device: ctx.net.device,
            ..o
        }),
    })
}

/// Whether every scan of `pairs` has its lung mask, which the mask metrics need for every
/// sample (a table has no empty cells). When some lack one in a dataset that has masks, a note
/// names them.
fn masks_for(ctx: &EvalContext, pairs: &[Pair], set: IdSet, log: &mut Logger) -> bool {
    let mut scans: Vec<&str> = pairs
        .iter()
        .flat_map(|p| [p.src.as_str(), p.tgt.as_str()])
        .collect();
    scans.sort_unstable();
    scans.dedup();
    let unmasked: Vec<&str> = scans
        .iter()
        .copied()
        .filter(|id| !ctx.has_mask(id))
        .collect();
    let masks = unmasked.is_empty();
    // A note unless the dataset has no masks at all (an image-only dataset).
    let any_masks = || ctx.dataset().ids().iter().any(|id| ctx.has_mask(id));
    if !masks && (unmasked.len() < scans.len() || any_masks()) {
        let shown: Vec<&str> = unmasked.iter().copied().take(5).collect();
        log.line(&format!(
            "note: {} of the {} scans of the {} set have no lung mask ({}{}): the table leaves \
             out the mask metrics (dice, surface distances, dice_before)",
            unmasked.len(),
            scans.len(),
            set.name(),
            shown.join(", "),
            if unmasked.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        ));
    }
    masks
}

/// Fails early, before any sample is scored, when the table's folder cannot be written.
fn check_writable(table: &Path) -> EvalResult<()> {
    let dir = match table.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let probe = dir.join(format!(".voxflow-write-check-{}", std::process::id()));
    let result = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&probe, b""));
    let _ = std::fs::remove_file(&probe);
    result.map_err(|e| {
        EvalError::Usage(format!(
            "cannot write the score table {}: {e}; give --out FILE to write it elsewhere",
            table.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: &str, per_label: Vec<(f32, f64)>) -> SampleScores {
        SampleScores {
            id: id.into(),
            base: (0..10).map(|i| i as f64 / 10.0).collect(),
            per_label,
            dice_1mm: Some(0.75),
            native: vec![],
        }
    }

    #[test]
    fn label_columns_are_the_union_and_an_absent_label_scores_one() {
        let t = table_of(
            &[
                sample("a->x", vec![(3.0, 0.5), (4.0, 0.25)]),
                sample("b->x", vec![(3.0, 0.125), (4.0, 0.5), (5.0, 0.0)]),
                sample("c->x", vec![]),
            ],
            true,
        )
        .unwrap();
        let tail: Vec<&str> = t.columns[10..].iter().map(String::as_str).collect();
        assert_eq!(tail, ["dice_3", "dice_4", "dice_5", "dice_1mm"]);
        assert_eq!(t.rows[0].values[10..], [0.5, 0.25, 1.0, 0.75]);
        assert_eq!(t.rows[1].values[10..], [0.125, 0.5, 0.0, 0.75]);
        // A sample whose masks hold none of the labels: each is absent from both, Dice 1.
        assert_eq!(t.rows[2].values[10..], [1.0, 1.0, 1.0, 0.75]);
    }

    #[test]
    fn luna_style_tables_always_have_the_three_label_columns() {
        // A set whose scans hold no airway (5) gets the column as its other sets do.
        let t = table_of(&[sample("a->x", vec![(3.0, 0.5), (4.0, 0.25)])], true).unwrap();
        let tail: Vec<&str> = t.columns[10..].iter().map(String::as_str).collect();
        assert_eq!(tail, ["dice_3", "dice_4", "dice_5", "dice_1mm"]);
        assert_eq!(t.rows[0].values[10..], [0.5, 0.25, 1.0, 0.75]);
        let t = table_of(&[sample("a->x", vec![(1.0, 0.5), (2.0, 0.25)])], true).unwrap();
        let tail: Vec<&str> = t.columns[10..].iter().map(String::as_str).collect();
        assert_eq!(
            tail,
            ["dice_1", "dice_2", "dice_1mm"],
            "other label sets as found"
        );
    }

    #[test]
    fn a_single_label_gives_no_label_columns() {
        let t = table_of(&[sample("a->x", vec![(1.0, 0.5)])], true).unwrap();
        assert_eq!(t.columns.len(), 11);
        assert_eq!(t.columns[10], "dice_1mm");
    }

    #[test]
    fn without_masks_only_image_and_deformation_columns() {
        let s = SampleScores {
            id: "a->b".into(),
            base: vec![0.1, 0.64, 0.8, 0.0, 0.02],
            per_label: vec![],
            dice_1mm: None,
            native: vec![],
        };
        let t = table_of(&[s], false).unwrap();
        assert_eq!(t.columns, IMAGE_COLUMNS.map(String::from));
        assert_eq!(t.rows[0].values, [0.1, 0.64, 0.8, 0.0, 0.02]);
        let nan = SampleScores {
            id: "bad".into(),
            base: vec![f64::NAN, 0.0, 0.0, 0.0, 0.0],
            per_label: vec![],
            dice_1mm: None,
            native: vec![],
        };
        let e = table_of(&[nan], false).unwrap_err().to_string();
        assert!(e.contains("sample bad: mse is NaN"), "{e}");
    }
}
