//! LUNA16 dataset discovery (SPEC 5.2): scans in `<root>/subset0..subset9/<id>.mhd`, lung
//! masks in `<root>/seg-lungs-LUNA16/<id>.mhd` on the same grid.
//!
//! Besides `.mhd`, scans and masks may be `.mha`, `.nii` or `.nii.gz` (anything
//! [`read_volume`] reads); the id is the file name without that extension. Data files
//! (`.raw`, `.zraw`), hidden files and other names are ignored. Ids are kept sorted, so a
//! split drawn from them is reproducible.

#[cfg(test)]
mod tests;

use crate::data::error::{DataError, DataResult};
use crate::data::io::read_volume;
use crate::data::preprocess::is_lung_label;
use crate::data::volume::Volume;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Number of LUNA16 subsets (`subset0` … `subset9`).
pub const SUBSETS: usize = 10;
/// The directory of lung masks under the dataset root.
pub const MASK_DIR: &str = "seg-lungs-LUNA16";
/// Volume file extensions accepted for scans and masks, longest first.
pub const EXTENSIONS: [&str; 4] = [".nii.gz", ".mhd", ".mha", ".nii"];

/// The files of one scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanFiles {
    /// The CT volume's header (`.mhd`) or single file.
    pub image: PathBuf,
    /// Its lung mask, if `seg-lungs-LUNA16` has one.
    pub mask: Option<PathBuf>,
}

/// A discovered LUNA16-layout dataset.
#[derive(Clone, Debug)]
pub struct LunaDataset {
    /// The directory that holds `subset0..subset9` and `seg-lungs-LUNA16`.
    pub root: PathBuf,
    /// Scans by id, sorted.
    pub scans: BTreeMap<String, ScanFiles>,
}

/// The id of a volume file name (name without its accepted extension), or `None` if the
/// name is hidden or not a volume header.
fn volume_id(name: &str) -> Option<&str> {
    if name.starts_with('.') {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    let ext = EXTENSIONS.iter().find(|e| lower.ends_with(*e))?;
    let id = &name[..name.len() - ext.len()];
    (!id.is_empty()).then_some(id)
}

/// The volume files in `dir` by id. Names that are not UTF-8 are skipped with a warning.
/// Two files with the same id (e.g. `a.mhd` and `a.mha`) are an error naming both.
fn list_volumes(dir: &Path, warnings: &mut Vec<String>) -> DataResult<BTreeMap<String, PathBuf>> {
    let mut found = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            // Only a name that would be a volume's is worth a word (not a data file's).
            if volume_id(&entry.file_name().to_string_lossy()).is_some() {
                warnings.push(format!(
                    "{}: skipped, the name is not UTF-8",
                    path.display()
                ));
            }
            continue;
        };
        let Some(id) = volume_id(&name) else { continue };
        // Follows symbolic links; a directory named like a volume is not one.
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => continue,
            Err(e) => {
                warnings.push(format!(
                    "{}: skipped, cannot be opened ({e}; a broken symbolic link?)",
                    path.display()
                ));
                continue;
            }
        }
        if let Some(other) = found.insert(id.to_string(), path.clone()) {
            return Err(duplicate(id, &other, &path));
        }
    }
    Ok(found)
}

fn duplicate(id: &str, a: &Path, b: &Path) -> DataError {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    DataError::Dataset(format!(
        "scan id {id} is present twice: {} and {}",
        a.display(),
        b.display()
    ))
}

fn expected_layout(root: &Path) -> String {
    format!(
        "expected scans in {}/subset0 … subset9/<id>.mhd (or .mha, .nii, .nii.gz) and lung \
         masks in {}/{MASK_DIR}/<id>.mhd",
        root.display(),
        root.display()
    )
}

impl LunaDataset {
    /// Finds the scans and masks under `root`. Returns the dataset and warnings for the caller
    /// to show (missing subsets, missing mask directory, scans without a mask, skipped names).
    /// Errors: `root` missing or not a directory, no scan found, an unreadable directory, or
    /// the same id twice (the error names both files).
    pub fn discover(root: &Path) -> DataResult<(LunaDataset, Vec<String>)> {
        if !root.is_dir() {
            return Err(DataError::Dataset(format!(
                "data directory {} does not exist or is not a directory; {}",
                root.display(),
                expected_layout(root)
            )));
        }
        let mut warnings = Vec::new();
        let mut images: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut missing = Vec::new();
        for k in 0..SUBSETS {
            let dir = root.join(format!("subset{k}"));
            if !dir.is_dir() {
                if dir.exists() {
                    warnings.push(format!("{}: not a directory, skipped", dir.display()));
                } else {
                    missing.push(format!("subset{k}"));
                }
                continue;
            }
            for (id, path) in list_volumes(&dir, &mut warnings)? {
                if let Some(other) = images.get(&id) {
                    return Err(duplicate(&id, other, &path));
                }
                images.insert(id, path);
            }
        }
        if images.is_empty() {
            return Err(DataError::Dataset(format!(
                "no scans found under {}; {}",
                root.display(),
                expected_layout(root)
            )));
        }
        if !missing.is_empty() {
            warnings.push(format!(
                "{}: missing {} (using the {} scans found in the others)",
                root.display(),
                missing.join(", "),
                images.len()
            ));
        }
        let mask_dir = root.join(MASK_DIR);
        let mut masks = if mask_dir.is_dir() {
            list_volumes(&mask_dir, &mut warnings)?
        } else {
            warnings.push(format!(
                "{}: no lung mask directory; generators that need masks cannot run",
                mask_dir.display()
            ));
            BTreeMap::new()
        };
        let scans: BTreeMap<String, ScanFiles> = images
            .into_iter()
            .map(|(id, image)| {
                let mask = masks.remove(&id);
                (id, ScanFiles { image, mask })
            })
            .collect();
        let unmasked: Vec<&str> = scans
            .iter()
            .filter(|(_, s)| s.mask.is_none())
            .map(|(id, _)| id.as_str())
            .collect();
        if mask_dir.is_dir() && !unmasked.is_empty() {
            let shown = unmasked
                .iter()
                .take(3)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            let more = if unmasked.len() > 3 { ", …" } else { "" };
            warnings.push(format!(
                "{}: {} of {} scans have no lung mask ({shown}{more})",
                mask_dir.display(),
                unmasked.len(),
                scans.len()
            ));
        }
        let dataset = LunaDataset {
            root: root.to_path_buf(),
            scans,
        };
        Ok((dataset, warnings))
    }

    /// All scan ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.scans.keys().cloned().collect()
    }

    /// Number of scans.
    pub fn len(&self) -> usize {
        self.scans.len()
    }

    /// True when there are no scans (never after a successful [`LunaDataset::discover`]).
    pub fn is_empty(&self) -> bool {
        self.scans.is_empty()
    }

    /// True when every scan has a lung mask.
    pub fn has_masks(&self) -> bool {
        !self.scans.is_empty() && self.scans.values().all(|s| s.mask.is_some())
    }

    fn scan(&self, id: &str) -> DataResult<&ScanFiles> {
        self.scans.get(id).ok_or_else(|| {
            DataError::Dataset(format!(
                "unknown scan id {id}: not among the {} scans under {}",
                self.scans.len(),
                self.root.display()
            ))
        })
    }

    /// The image file of scan `id`.
    pub fn image_path(&self, id: &str) -> DataResult<&Path> {
        Ok(&self.scan(id)?.image)
    }

    /// The lung mask file of scan `id`; an error if the id is unknown or has no mask.
    pub fn mask_path(&self, id: &str) -> DataResult<&Path> {
        self.scan(id)?.mask.as_deref().ok_or_else(|| {
            DataError::Dataset(format!(
                "scan {id} has no lung mask in {}",
                self.root.join(MASK_DIR).display()
            ))
        })
    }

    /// Reads the image of scan `id`.
    pub fn load_image(&self, id: &str) -> DataResult<Volume> {
        read_volume(self.image_path(id)?)
    }

    /// Reads the lung mask of scan `id` (raw labels; see `preprocess::binarize_mask`). A mask
    /// with no voxel labelled as lung (3 or 4) is an error listing the labels it holds: a
    /// binary 0/1 mask, say, would otherwise train and score as an empty lung.
    pub fn load_mask(&self, id: &str) -> DataResult<Volume> {
        let path = self.mask_path(id)?;
        let mask = read_volume(path)?;
        if !mask.data.iter().any(|&v| is_lung_label(v)) {
            return Err(DataError::Format {
                path: path.to_path_buf(),
                msg: format!(
                    "no voxel is labelled 3 or 4, LUNA16's lung labels (the mask holds {}); \
                     label the lungs 3 (right) and 4 (left)",
                    label_summary(&mask.data)
                ),
            });
        }
        Ok(mask)
    }

    /// Reads the image and lung mask of scan `id` and checks that they share one grid (same
    /// dims, spacing within 1e-3 mm), as LUNA16's masks do. The mask takes the image's origin
    /// and direction: they pair voxel for voxel even if the mask's header says otherwise.
    pub fn load_pair(&self, id: &str) -> DataResult<(Volume, Volume)> {
        let (image, mask) = (self.load_image(id)?, self.load_mask(id)?);
        let same_spacing = image
            .spacing
            .iter()
            .zip(&mask.spacing)
            .all(|(a, b)| (a - b).abs() <= 1e-3);
        if image.dims != mask.dims || !same_spacing {
            return Err(DataError::Dataset(format!(
                "scan {id}: mask {} has size {} and spacing {:?} mm but image {} has size {} \
                 and spacing {:?} mm (x, y, z), so they are not on one grid",
                self.mask_path(id)?.display(),
                xyz(mask.dims),
                mask.spacing,
                self.image_path(id)?.display(),
                xyz(image.dims),
                image.spacing
            )));
        }
        // The mask is on its image's grid: pair them voxel for voxel, whatever orientation the
        // mask's own header claims, so that reorientation moves both the same way.
        let mask = Volume {
            origin: image.origin,
            direction: image.direction,
            ..mask
        };
        Ok((image, mask))
    }
}

/// The distinct values of `data`, for a message: `only 0`, `the values 0 and 255`, or the
/// smallest few and the count.
fn label_summary(data: &[f32]) -> String {
    // Distinct values in f32's total order (-0 counted as 0), without copying or sorting the
    // whole volume: a mask holds few.
    let key = |v: f32| {
        let bits = if v == 0.0 { 0 } else { v.to_bits() };
        if bits >> 31 == 1 {
            !bits
        } else {
            bits | 1 << 31
        }
    };
    let distinct: std::collections::BTreeMap<u32, f32> = data
        .iter()
        .map(|&v| (key(v), if v == 0.0 { 0.0 } else { v }))
        .collect();
    let values: Vec<f32> = distinct.into_values().collect();
    let shown: Vec<String> = values.iter().take(6).map(|v| v.to_string()).collect();
    match values.len() {
        0 => "no voxels".into(),
        1 => format!("only {}", shown[0]),
        n if n <= 6 => format!(
            "the values {} and {}",
            shown[..n - 1].join(", "),
            shown[n - 1]
        ),
        n => format!("{n} distinct values: {}, ...", shown.join(", ")),
    }
}

/// Array dims `[D, H, W]` written in image-axis order, as headers give sizes: `WxHxD`.
fn xyz([d, h, w]: [usize; 3]) -> String {
    format!("{w}x{h}x{d}")
}
