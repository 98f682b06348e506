//! Writing the phantom in the LUNA16 layout, with `phantom.json` (how it was made) and
//! `annotations.csv` (the nodules, in LUNA16's format).

use super::subject::Subject;
use super::{GENERATOR, GENERATOR_VERSION, PhantomConfig, PhantomSummary, SubjectSummary, render};
use crate::data::error::{DataError, DataResult};
use crate::data::io::atomic_write;
use crate::data::io::metaimage::{self, ElementType};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Directory of the lung masks, as in LUNA16.
pub const MASK_DIR: &str = "seg-lungs-LUNA16";

/// The content of `phantom.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhantomManifest {
    /// [`GENERATOR`](super::GENERATOR).
    pub generator: String,
    /// [`GENERATOR_VERSION`](super::GENERATOR_VERSION).
    pub version: u32,
    pub seed: u64,
    pub n: usize,
    pub subsets: usize,
    pub grid_scale: f64,
    /// Scans per subject (older manifests, without the key: 1).
    #[serde(default = "one")]
    pub phases: usize,
    pub subjects: Vec<SubjectRecord>,
}

fn one() -> usize {
    1
}

/// One subject in `phantom.json`. Geometry in ITK/LPS convention, (x, y, z) order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubjectRecord {
    pub index: usize,
    /// The breathing phase of this scan of subject `index` (0 unless `phases` > 1).
    #[serde(default)]
    pub phase: usize,
    pub id: String,
    /// Image and mask paths relative to the dataset directory.
    pub image: String,
    pub mask: String,
    /// The landmarks (world mm, `x,y,z` rows that correspond across the subject's phases).
    #[serde(default)]
    pub landmarks: String,
    /// Voxels along x, y, z (MetaImage `DimSize`).
    pub dim_size: [usize; 3],
    pub spacing_mm: [f64; 3],
    pub origin_mm: [f64; 3],
    pub direction: [[f64; 3]; 3],
    /// Whether the mask carries label 5 (trachea and main bronchi).
    pub airway_label: bool,
    /// Standard deviation of the scanner noise.
    pub noise_sigma_hu: f64,
    /// Breathing state in [0, 1] (0 = expiration); sets `deformation.scale`.
    pub breathing_factor: f64,
    /// Overall anatomy size factor.
    pub size_factor: f64,
    /// The world → canonical map.
    pub deformation: super::Deformation,
    pub nodules: Vec<NoduleRecord>,
}

/// A nodule: world centre (LPS mm) and approximate diameter after breathing scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoduleRecord {
    pub centre_mm: [f64; 3],
    pub diameter_mm: f64,
}

/// Directory of the landmark files, `<subject>/<id>.csv`: a folder per subject, since rows
/// correspond across a subject's breathing phases only.
pub const LANDMARK_DIR: &str = "landmarks";

/// The landmark file of scan `id` of the subject whose phase-0 id is `subject`, relative to
/// the dataset directory.
pub fn landmark_file(subject: &str, id: &str) -> String {
    format!("{LANDMARK_DIR}/{subject}/{id}.csv")
}

fn record(s: &Subject, phase: usize, subject: &str) -> SubjectRecord {
    SubjectRecord {
        index: s.index,
        phase,
        id: s.id.clone(),
        image: format!("subset{}/{}.mhd", s.subset, s.id),
        mask: format!("{MASK_DIR}/{}.mhd", s.id),
        landmarks: landmark_file(subject, &s.id),
        dim_size: [s.dims[2], s.dims[1], s.dims[0]],
        spacing_mm: s.spacing,
        origin_mm: s.origin,
        direction: s.direction(),
        airway_label: s.airway_labelled,
        noise_sigma_hu: s.noise_sigma,
        breathing_factor: s.breathing,
        size_factor: s.size_factor,
        deformation: s.deform.clone(),
        nodules: s
            .nodules
            .iter()
            .map(|n| NoduleRecord {
                centre_mm: n.world_mm,
                diameter_mm: n.diameter_mm,
            })
            .collect(),
    }
}

fn file_len(p: &Path) -> Option<u64> {
    std::fs::metadata(p)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

/// The four files of a subject and whether they are all there with plausible sizes.
fn files(out: &Path, s: &Subject) -> ([PathBuf; 4], bool) {
    // Ids contain dots, so names are built whole (never `with_extension`).
    let img = out.join(format!("subset{}", s.subset));
    let mask = out.join(MASK_DIR);
    let id = &s.id;
    let f = [
        img.join(format!("{id}.mhd")),
        img.join(format!("{id}.raw")),
        mask.join(format!("{id}.mhd")),
        mask.join(format!("{id}.zraw")),
    ];
    let raw = (s.dims.iter().product::<usize>() * 2) as u64;
    let ok = file_len(&f[0]).is_some_and(|l| l > 0)
        && file_len(&f[1]) == Some(raw)
        && file_len(&f[2]).is_some_and(|l| l > 0)
        && file_len(&f[3]).is_some_and(|l| l > 0);
    (f, ok)
}

/// Why `out` may not be written to, if it may not: it exists and is non-empty and is not a
/// phantom made with the same generator version and configuration. `Ok(true)` means it holds
/// such a phantom (possibly incomplete).
fn check_existing(out: &Path, cfg: &PhantomConfig) -> DataResult<bool> {
    if !out.exists() {
        return Ok(false);
    }
    if !out.is_dir() {
        return Err(DataError::format(out, "exists and is not a directory"));
    }
    let mut entries = std::fs::read_dir(out).map_err(|e| DataError::io(out, e))?;
    if entries.next().is_none() {
        return Ok(false);
    }
    let refuse = |why: &str| {
        Err(DataError::format(
            out,
            format!(
                "{why}; refusing to write a phantom dataset there (choose another directory or remove it)"
            ),
        ))
    };
    let json = out.join("phantom.json");
    let Ok(text) = std::fs::read(&json) else {
        return refuse("the directory is not empty and holds no phantom.json");
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return refuse("phantom.json there is not valid JSON");
    };
    let same = v["generator"] == GENERATOR
        && v["version"] == GENERATOR_VERSION
        && v["seed"] == cfg.seed
        && v["n"] == cfg.n
        && v["subsets"] == cfg.subsets
        && v["grid_scale"]
            .as_f64()
            .is_some_and(|g| (g - cfg.grid_scale).abs() <= 1e-12 * cfg.grid_scale)
        && v["phases"].as_u64().unwrap_or(1) == cfg.phases as u64;
    if !same {
        return refuse(&format!(
            "it holds a different phantom dataset (generator {} version {}, seed {}, n {}, \
             subsets {}, grid_scale {}, phases {}; asked for version {GENERATOR_VERSION}, seed \
             {}, n {}, subsets {}, grid_scale {}, phases {})",
            v["generator"],
            v["version"],
            v["seed"],
            v["n"],
            v["subsets"],
            v["grid_scale"],
            v["phases"].as_u64().unwrap_or(1),
            cfg.seed,
            cfg.n,
            cfg.subsets,
            cfg.grid_scale,
            cfg.phases
        ));
    }
    Ok(true)
}

/// Writes the landmark file of every scan that lacks one (older datasets had none, or kept
/// them all in one folder); returns the bytes written. `subjects[k]` is scan `scans[k]`
/// (subject, phase), phases of a subject in a row.
fn write_landmarks(
    out: &Path,
    cfg: &PhantomConfig,
    subjects: &[Subject],
    scans: &[(usize, usize)],
) -> DataResult<u64> {
    let path = |k: usize| {
        let base = &subjects[scans[k].0 * cfg.phases].id;
        out.join(landmark_file(base, &subjects[k].id))
    };
    let todo: Vec<usize> = (0..subjects.len())
        .filter(|&k| !path(k).is_file())
        .collect();
    let written: DataResult<Vec<u64>> = todo
        .par_iter()
        .map(|&k| {
            let p = path(k);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).map_err(|e| DataError::io(d, e))?;
            }
            let points = super::phases::world_landmarks(cfg, &subjects[k]);
            crate::data::landmarks::write_landmarks_csv(&p, &points)?;
            Ok(file_len(&p).unwrap_or(0))
        })
        .collect();
    Ok(written?.iter().sum())
}

fn annotations_csv(subjects: &[Subject]) -> String {
    let mut csv = String::from("seriesuid,coordX,coordY,coordZ,diameter_mm\n");
    for s in subjects {
        for n in &s.nodules {
            let [x, y, z] = n.world_mm;
            csv += &format!("{},{x:.4},{y:.4},{z:.4},{:.4}\n", s.id, n.diameter_mm);
        }
    }
    csv
}

/// Writes the phantom dataset `cfg` describes into `out`, in the LUNA16 layout:
/// - `subset{k}/<id>.mhd` + `.raw`: the images, int16 HU, uncompressed (subject `i` goes to
///   subset `i % cfg.subsets`);
/// - `seg-lungs-LUNA16/<id>.mhd` + `.zraw`: the masks, uint8, zlib-compressed, same grid;
/// - `annotations.csv`: the nodules (`seriesuid,coordX,coordY,coordZ,diameter_mm`);
/// - `phantom.json`: the [`PhantomManifest`].
///
/// `out` may be missing or empty. If it is not empty it must hold a phantom made by the same
/// generator version with the same configuration, or this is an error naming the directory
/// and nothing is touched. Then writing is idempotent: subjects whose files are all present
/// with the expected sizes are kept (a complete dataset is a no-op, `reused` in the summary);
/// missing or damaged ones are generated again, bitwise identical. `phantom.json` is written
/// first, so an interrupted run is completed by the next one. Every file is written to a
/// temporary name and renamed. Subjects are generated in parallel.
pub fn write_dataset(out: &Path, cfg: &PhantomConfig) -> DataResult<PhantomSummary> {
    cfg.validate()?;
    let existing = check_existing(out, cfg)?;
    let scans: Vec<(usize, usize)> = (0..cfg.n)
        .flat_map(|i| (0..cfg.phases).map(move |p| (i, p)))
        .collect();
    let subjects: Vec<Subject> = scans
        .par_iter()
        .map(|&(i, p)| super::phases::draw_phase(cfg, i, p))
        .collect();
    let mut ids: Vec<&str> = subjects.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(DataError::Dataset(format!(
            "phantom seed {}: two subjects drew the same id; use another seed",
            cfg.seed
        )));
    }
    let todo: Vec<bool> = subjects.iter().map(|s| !files(out, s).1).collect();
    let json_path = out.join("phantom.json");
    let csv_path = out.join("annotations.csv");
    let reused = existing && !todo.iter().any(|&t| t) && csv_path.is_file();
    let mut bytes_written = 0u64;
    if !reused {
        let mut dirs = vec![out.join(MASK_DIR)];
        dirs.extend((0..cfg.subsets.min(cfg.n)).map(|k| out.join(format!("subset{k}"))));
        for d in &dirs {
            std::fs::create_dir_all(d).map_err(|e| DataError::io(d, e))?;
        }
        let manifest = PhantomManifest {
            generator: GENERATOR.to_string(),
            version: GENERATOR_VERSION,
            seed: cfg.seed,
            n: cfg.n,
            subsets: cfg.subsets,
            grid_scale: cfg.grid_scale,
            phases: cfg.phases,
            subjects: subjects
                .iter()
                .zip(&scans)
                .map(|(s, &(i, p))| record(s, p, &subjects[i * cfg.phases].id))
                .collect(),
        };
        let mut json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| DataError::format(&json_path, e.to_string()))?;
        json.push(b'\n');
        atomic_write(&json_path, &json)?;
        let csv = annotations_csv(&subjects);
        atomic_write(&csv_path, csv.as_bytes())?;
        bytes_written += (json.len() + csv.len()) as u64;
    }
    bytes_written += write_landmarks(out, cfg, &subjects, &scans)?;
    let results: Vec<DataResult<SubjectSummary>> = subjects
        .par_iter()
        .zip(&todo)
        .map(|(s, &todo)| {
            let (f, _) = files(out, s);
            if todo {
                let (image, mask, _) = render(s);
                metaimage::write(&f[0], &image, ElementType::I16, false)?;
                drop(image);
                metaimage::write(&f[2], &mask, ElementType::U8, true)?;
            }
            let bytes = f.iter().filter_map(|p| file_len(p)).sum();
            Ok(SubjectSummary {
                id: s.id.clone(),
                subset: s.subset,
                dims: s.dims,
                spacing: s.spacing,
                flipped: s.flip,
                nodules: s.nodules.len(),
                airway_labelled: s.airway_labelled,
                bytes,
                written: todo,
            })
        })
        .collect();
    let mut summaries = Vec::with_capacity(results.len());
    for r in results {
        let s = r?;
        if s.written {
            bytes_written += s.bytes;
        }
        summaries.push(s);
    }
    Ok(PhantomSummary {
        out: out.to_path_buf(),
        subjects: summaries,
        bytes_written,
        reused,
    })
}
