//! The `voxflow register` command: files in, the registration, the outputs written all or
//! nothing, one screen of results.

use super::report::{NetworkSummary, Summary};
use super::{RegisterError, RegisterOptions, box_gap, register_from};
use crate::data::io::{metaimage::ElementType, nifti, read_volume};
use crate::data::landmarks::{Points, read_landmark_pair};
use crate::data::volume::Volume;
use crate::registration::{DisplacementField, Grid, Interp, Solution, Step};
use crate::registration::{correlation, mask_scores, tre};
use crate::session::{InferenceOptions, Logger, Network};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `voxflow register` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct RegisterArgs {
    pub fixed: PathBuf,
    pub moving: PathBuf,
    pub out: PathBuf,
    pub fixed_mask: Option<PathBuf>,
    pub moving_mask: Option<PathBuf>,
    pub fixed_landmarks: Option<PathBuf>,
    pub moving_landmarks: Option<PathBuf>,
    pub options: RegisterOptions,
    /// A session's network predicts, the optimization refines (`options`' dense stage).
    pub network: Option<InferenceOptions>,
}

/// The files `run` writes into the output directory.
pub const OUTPUTS: [&str; 4] = [
    "warped.nii.gz",
    "displacement.nii.gz",
    "warped_mask.nii.gz",
    "summary.json",
];

fn read(path: &Path) -> Result<Volume, RegisterError> {
    Ok(read_volume(path)?)
}

/// A mask of `path` with at least one voxel set, or an error naming it.
fn read_mask(path: &Path) -> Result<Volume, RegisterError> {
    let m = read(path)?;
    if !m.data.iter().any(|&v| v > 0.5) {
        return Err(RegisterError::Usage(format!(
            "{}: the mask is empty (no voxel above 0.5)",
            path.display()
        )));
    }
    Ok(m)
}

/// Runs the command; `say` prints a line (progress, then the summary screen).
pub fn run(args: &RegisterArgs, say: &mut dyn FnMut(&str)) -> Result<Summary, RegisterError> {
    let t0 = Instant::now();
    let (fixed, moving) = (read(&args.fixed)?, read(&args.moving)?);
    let gap = box_gap(&Grid::of(&fixed), &Grid::of(&moving));
    if gap > 0.0 {
        return Err(RegisterError::NoOverlap {
            fixed: args.fixed.display().to_string(),
            moving: args.moving.display().to_string(),
            gap,
        });
    }
    let masks = match (&args.fixed_mask, &args.moving_mask) {
        (Some(f), Some(m)) => Some((read_mask(f)?, read_mask(m)?)),
        (None, None) => None,
        _ => {
            return Err(RegisterError::Usage(
                "give both --fixed-mask and --moving-mask, or neither".into(),
            ));
        }
    };
    let landmarks = match (&args.fixed_landmarks, &args.moving_landmarks) {
        (Some(f), Some(m)) => Some(read_landmark_pair((f, Some(&fixed)), (m, Some(&moving)))?),
        (None, None) => None,
        _ => {
            return Err(RegisterError::Usage(
                "give both --fixed-landmarks and --moving-landmarks, or neither".into(),
            ));
        }
    };
    check_out(&args.out)?;
    let read_s = t0.elapsed().as_secs_f64();
    let t_net = Instant::now();
    let start = match &args.network {
        Some(inf) => Some(predict(
            inf,
            (&fixed, &moving),
            masks.as_ref().map(|m| &m.1),
            &args.options,
        )?),
        None => None,
    };
    let network_s = t_net.elapsed().as_secs_f64();
    let mut last_level = (String::new(), Instant::now());
    let mut report = |s: &Step| {
        let key = format!("{} {:.1} mm", s.stage, s.level_mm);
        let due = key != last_level.0 || last_level.1.elapsed().as_secs_f64() > 2.0;
        if due || s.iteration == s.of {
            say(&format!(
                "{} at {:.1} mm: step {}/{} | loss {:.5}",
                s.stage, s.level_mm, s.iteration, s.of, s.loss
            ));
            last_level = (key, Instant::now());
        }
        !crate::interrupt::requested()
    };
    crate::interrupt::install(
        "stopping the optimization after this step (the transform so far is kept)",
    );
    let r = register_from(
        &fixed,
        &moving,
        start.as_ref().map(|s| &s.1),
        &args.options,
        &mut report,
    );
    crate::interrupt::clear();
    let r = r?;
    let warped_mask = masks
        .as_ref()
        .map(|(_, m)| r.displacement.warp(m, Interp::Nearest, 0.0));
    // Scoring and writing the volumes run side by side.
    let ((written, write_s), (mut summary, score_s)) = rayon::join(
        || {
            let t = Instant::now();
            let w = write_volumes(&args.out, &r.warped, &r.displacement, warped_mask.as_ref());
            (w, t.elapsed().as_secs_f64())
        },
        || {
            let t = Instant::now();
            let masks = masks.as_ref().zip(warped_mask.as_ref());
            let s = score(
                args,
                (&fixed, &moving),
                &r,
                masks,
                landmarks.as_ref(),
                &start,
            );
            (s, t.elapsed().as_secs_f64())
        },
    );
    summary.seconds = vec![("read".into(), read_s)];
    if start.is_some() {
        summary.seconds.push(("network".into(), network_s));
    }
    summary.seconds.extend([
        ("optimize".into(), r.seconds.0),
        ("resample".into(), r.seconds.1),
        ("score".into(), score_s),
        ("write".into(), write_s),
    ]);
    finish_outputs(&args.out, written, &summary)?;
    say(&summary.screen());
    Ok(summary)
}

/// The fixed and moving masks, and the moving mask warped.
type MaskPair<'a> = (&'a (Volume, Volume), &'a Volume);

/// Everything the summary measures (its seconds are filled in by the caller): correlation,
/// folding, Dice and HD95 of the masks, TRE of the registration and of the network alone.
fn score(
    args: &RegisterArgs,
    (fixed, moving): (&Volume, &Volume),
    r: &super::Registration,
    masks: Option<MaskPair>,
    landmarks: Option<&(Points, Points)>,
    start: &Option<(String, Solution)>,
) -> Summary {
    Summary {
        fixed: args.fixed.display().to_string(),
        moving: args.moving.display().to_string(),
        grid: fixed.dims,
        spacing_mm: fixed.spacing,
        seconds: vec![],
        correlation: correlation(fixed, moving, &r.warped),
        folding_pct: r.displacement.folding_pct(),
        masks: masks.map(|((f, m), w)| {
            let lying = DisplacementField::zeros(Grid::of(f)).warp(m, Interp::Nearest, 0.0);
            mask_scores(f, &lying, w)
        }),
        tre: landmarks.map(|(f, m)| tre(f, m, |p| r.solution.map_point(p))),
        network: start.as_ref().map(|(label, s)| NetworkSummary {
            checkpoint: label.clone(),
            tre: landmarks.map(|(f, m)| tre(f, m, |p| s.map_point(p)).after),
        }),
        affine_theta: r.solution.affine.theta,
        affine_centre: r.solution.affine.centre,
        options: format!("{:?}", args.options.optimize),
    }
}

/// The network's prediction for the pair, and a label naming its session and checkpoint.
fn predict(
    inf: &InferenceOptions,
    (fixed, moving): (&Volume, &Volume),
    moving_mask: Option<&Volume>,
    opts: &RegisterOptions,
) -> Result<(String, Solution), RegisterError> {
    let net = Network::open(inf, &mut Logger::console())?;
    let o = &opts.optimize;
    let dense = Grid::of(fixed).at_spacing(o.levels_mm[0] * o.control_voxels);
    let solution = net.predict(fixed, moving, moving_mask, dense)?;
    let label = format!(
        "session {}, {} (epoch {})",
        net.paths.name(),
        net.paths.checkpoint_label(&net.checkpoint),
        net.meta.epoch
    );
    Ok((label, solution))
}

/// The output directory: created if missing; a file in its place is an error.
fn check_out(out: &Path) -> Result<(), RegisterError> {
    if out.exists() && !out.is_dir() {
        return Err(RegisterError::Usage(format!(
            "{}: --out must be a directory; a file is there",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| crate::data::DataError::io(out, e))?;
    Ok(())
}

/// Temporary names of this run's outputs and the names they take.
type Written = Vec<(PathBuf, PathBuf)>;

/// Writes the volumes under temporary names (in parallel); on an error, removes what it wrote.
fn write_volumes(
    out: &Path,
    warped: &Volume,
    displacement: &DisplacementField,
    warped_mask: Option<&Volume>,
) -> Result<Written, RegisterError> {
    // The temporary names keep the extension: the NIfTI writer compresses by it.
    let tmp = |name: &str| out.join(format!(".tmp{}.{name}", std::process::id()));
    let pair = |name: &str| (tmp(name), out.join(name));
    let (d, (w, m)) = rayon::join(
        || {
            let p = pair("displacement.nii.gz");
            displacement.write_nifti(&p.0).map(|_| p)
        },
        || {
            rayon::join(
                || {
                    let p = pair("warped.nii.gz");
                    nifti::write(&p.0, warped, ElementType::F32).map(|_| p)
                },
                || {
                    warped_mask.map(|v| {
                        let p = pair("warped_mask.nii.gz");
                        nifti::write(&p.0, v, ElementType::U8).map(|_| p)
                    })
                },
            )
        },
    );
    let results: Vec<crate::data::DataResult<(PathBuf, PathBuf)>> =
        [Some(w), Some(d), m].into_iter().flatten().collect();
    if results.iter().any(|r| r.is_err()) {
        for name in ["warped.nii.gz", "displacement.nii.gz", "warped_mask.nii.gz"] {
            let _ = std::fs::remove_file(tmp(name));
        }
        let first = results.into_iter().find_map(|r| r.err());
        return Err(first.expect("an error was found").into());
    }
    Ok(results.into_iter().flatten().collect())
}

/// Writes `summary.json` beside the volumes, then renames every output into place: an error
/// leaves none of this run's files (and the earlier ones of a previous run as they were).
fn finish_outputs(
    out: &Path,
    written: Result<Written, RegisterError>,
    summary: &Summary,
) -> Result<(), RegisterError> {
    let mut written = written?;
    let tmp = out.join(format!(".tmp{}.summary.json", std::process::id()));
    let json = serde_json::to_vec_pretty(summary)
        .map_err(|e| RegisterError::Usage(format!("summary.json: {e}")))
        .and_then(|mut j| {
            j.push(b'\n');
            crate::fsutil::atomic_write(&tmp, &j)
                .map_err(|e| crate::data::DataError::io(&tmp, e).into())
        });
    if let Err(e) = json {
        for (t, _) in &written {
            let _ = std::fs::remove_file(t);
        }
        return Err(e);
    }
    written.push((tmp, out.join("summary.json")));
    for (t, dest) in &written {
        std::fs::rename(t, dest).map_err(|e| crate::data::DataError::io(dest, e))?;
    }
    Ok(())
}
