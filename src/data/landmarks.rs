//! Landmark files (SPEC section 12): corresponding points of a scan, rows matched between the
//! scans of a pair.
//!
//! Two formats, told apart by the file name:
//! - `.csv`: world points in millimetres (LPS, as every geometry in voxflow), one `x,y,z` row
//!   per landmark; a first row of column names (`x,y,z`) is allowed, and so are blank lines and
//!   lines starting with `#`.
//! - anything else (`.txt`, `.pts`): DIR-Lab's voxel files, one landmark per line as three
//!   numbers separated by white space (or commas), 1-based voxel indices (x, y, z) of the scan
//!   they belong to; the scan's geometry turns them into world points.
//!
//! Malformed rows, non-finite values and empty files are errors naming the file and the line.
//!
//! A dataset keeps them in a `landmarks/` folder beside its scans, named by scan id
//! ([`LandmarkIndex`]): `landmarks/<id>.csv` when rows correspond across every scan that has
//! a file, or `landmarks/<case>/<id>.csv` when they correspond only within a case (the scans
//! of one patient, as DIR-Lab's 4D-CT cases and the phantom's breathing phases).

use crate::data::error::{DataError, DataResult};
use crate::data::volume::Volume;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How a landmark file gives its points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LandmarkFormat {
    /// `x,y,z` world millimetres (LPS).
    WorldCsv,
    /// DIR-Lab: 1-based voxel indices (x, y, z) of the scan.
    VoxelText,
}

impl LandmarkFormat {
    /// The format of the file `path`, by its extension.
    pub fn of(path: &Path) -> LandmarkFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => LandmarkFormat::WorldCsv,
            _ => LandmarkFormat::VoxelText,
        }
    }
}

/// Reads the landmarks of `path` as world points (LPS mm). A voxel file needs `scan`, the
/// volume whose voxels it indexes (with its original geometry, as read from its file).
pub fn read_landmarks(path: &Path, scan: Option<&Volume>) -> DataResult<Points> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let format = LandmarkFormat::of(path);
    let mut points = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|f| !f.is_empty())
            .collect();
        let parsed: Option<Vec<f64>> = fields.iter().map(|f| f.parse::<f64>().ok()).collect();
        let values = match parsed {
            // A header of column names on the first data line of a CSV.
            None if points.is_empty() && format == LandmarkFormat::WorldCsv => continue,
            None => {
                return Err(DataError::format(
                    path,
                    format!("line {}: {line:?} is not three numbers", n + 1),
                ));
            }
            Some(v) => v,
        };
        let [a, b, c] = values[..] else {
            return Err(DataError::format(
                path,
                format!(
                    "line {}: {} values, expected 3 (x, y, z)",
                    n + 1,
                    values.len()
                ),
            ));
        };
        if !(a.is_finite() && b.is_finite() && c.is_finite()) {
            return Err(DataError::format(
                path,
                format!("line {}: a value is not finite", n + 1),
            ));
        }
        points.push(match format {
            LandmarkFormat::WorldCsv => [a, b, c],
            LandmarkFormat::VoxelText => {
                let scan = scan.ok_or_else(|| {
                    DataError::format(path, "a voxel landmark file needs its scan's geometry")
                })?;
                scan.voxel_to_world([a - 1.0, b - 1.0, c - 1.0])
            }
        });
    }
    if points.is_empty() {
        return Err(DataError::format(path, "no landmarks in the file"));
    }
    Ok(points)
}

/// Writes `points` (world mm) as a landmark CSV with a header row, atomically.
pub fn write_landmarks_csv(path: &Path, points: &[[f64; 3]]) -> DataResult<()> {
    let mut text = String::from("x,y,z\n");
    for p in points {
        let _ = writeln!(text, "{:?},{:?},{:?}", p[0], p[1], p[2]);
    }
    crate::fsutil::atomic_write(path, text.as_bytes()).map_err(|e| DataError::io(path, e))
}

/// Landmarks as world points (LPS mm).
pub type Points = Vec<[f64; 3]>;

/// The landmarks of the two scans of a pair, checked to correspond row by row.
pub fn read_landmark_pair(
    fixed: (&Path, Option<&Volume>),
    moving: (&Path, Option<&Volume>),
) -> DataResult<(Points, Points)> {
    let f = read_landmarks(fixed.0, fixed.1)?;
    let m = read_landmarks(moving.0, moving.1)?;
    if f.len() != m.len() {
        return Err(DataError::format(
            moving.0,
            format!(
                "{} landmarks, but the fixed scan's {} has {}: rows must correspond",
                m.len(),
                fixed.0.display(),
                f.len()
            ),
        ));
    }
    Ok((f, m))
}

/// The landmark files of a dataset's `landmarks/` folder by scan id, and which of them
/// correspond (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct LandmarkIndex {
    /// Scan id → (case folder, "" for the folder itself; the file).
    files: HashMap<String, (String, PathBuf)>,
}

impl LandmarkIndex {
    /// Indexes `dir` (`landmarks/`) and its subfolders one level down; a missing folder is an
    /// empty index. Files are `<id>.csv` or `<id>.txt`; an id in a case folder wins over the
    /// same id at the top (where an older layout left it).
    pub fn discover(dir: &Path) -> DataResult<LandmarkIndex> {
        let mut files = HashMap::new();
        if !dir.is_dir() {
            return Ok(LandmarkIndex { files });
        }
        let list = |d: &Path| -> DataResult<Vec<PathBuf>> {
            let mut v: Vec<PathBuf> = std::fs::read_dir(d)
                .map_err(|e| DataError::io(d, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            v.sort();
            Ok(v)
        };
        let id_of = |p: &Path| -> Option<String> {
            let ext = p.extension()?.to_str()?.to_ascii_lowercase();
            let name = p.file_stem()?.to_str()?;
            (["csv", "txt"].contains(&ext.as_str()) && !name.starts_with('.') && p.is_file())
                .then(|| name.to_string())
        };
        for p in list(dir)? {
            if p.is_dir() {
                let case = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                for f in list(&p)? {
                    if let Some(id) = id_of(&f) {
                        files.insert(id, (case.clone(), f));
                    }
                }
            }
        }
        for p in list(dir)? {
            if let Some(id) = id_of(&p) {
                files.entry(id).or_insert((String::new(), p));
            }
        }
        Ok(LandmarkIndex { files })
    }

    /// The files of scans `a` and `b` when both have one and their rows correspond (the same
    /// case folder, or both at the top).
    pub fn pair(&self, a: &str, b: &str) -> Option<(&Path, &Path)> {
        let (ca, fa) = self.files.get(a)?;
        let (cb, fb) = self.files.get(b)?;
        (ca == cb).then_some((fa.as_path(), fb.as_path()))
    }

    /// Number of scans with a landmark file.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no scan has one.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn csv_and_dirlab_files_read_as_world_points() {
        let dir = TempDir::new("landmarks");
        let csv = dir.file("a.csv");
        std::fs::write(&csv, "x,y,z\n1.5,-2,3e1\n\n# note\n4, 5, 6\n").unwrap();
        assert_eq!(
            read_landmarks(&csv, None).unwrap(),
            vec![[1.5, -2.0, 30.0], [4.0, 5.0, 6.0]]
        );
        // DIR-Lab: 1-based voxel indices of the scan, here with spacing and a flipped x axis.
        let mut scan = Volume::new(vec![0.0; 8], [2, 2, 2], &csv).unwrap();
        scan.spacing = [0.5, 2.0, 2.5];
        scan.origin = [10.0, 20.0, 30.0];
        scan.direction = [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let txt = dir.file("a.txt");
        std::fs::write(&txt, "1\t1\t1\n3 2 5\n").unwrap();
        assert_eq!(
            read_landmarks(&txt, Some(&scan)).unwrap(),
            vec![[10.0, 20.0, 30.0], [9.0, 22.0, 40.0]]
        );
        let out = dir.file("b.csv");
        let pts = vec![[0.1, -7.25, 1e-3], [1.0 / 3.0, 2.0, 3.0]];
        write_landmarks_csv(&out, &pts).unwrap();
        assert_eq!(read_landmarks(&out, None).unwrap(), pts, "exact round trip");
    }

    #[test]
    fn bad_files_are_errors_naming_file_and_line() {
        let dir = TempDir::new("landmarks-bad");
        let cases = [
            ("two.csv", "1,2\n", "line 1: 2 values"),
            (
                "nan.csv",
                "x,y,z\n1,2,nan\n",
                "line 2: a value is not finite",
            ),
            (
                "word.csv",
                "1,2,3\n4,five,6\n",
                "line 2: \"4,five,6\" is not three numbers",
            ),
            ("empty.csv", "x,y,z\n", "no landmarks"),
            ("v.txt", "1 2 3\n", "needs its scan's geometry"),
        ];
        for (name, text, want) in cases {
            let p = dir.file(name);
            std::fs::write(&p, text).unwrap();
            let e = read_landmarks(&p, None).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains(want), "{name}: {e}");
        }
        let e = read_landmarks(&dir.file("missing.csv"), None).unwrap_err();
        assert!(e.to_string().contains("missing.csv"), "{e}");
        let (a, b) = (dir.file("a.csv"), dir.file("b.csv"));
        std::fs::write(&a, "1,2,3\n4,5,6\n").unwrap();
        std::fs::write(&b, "1,2,3\n").unwrap();
        let e = read_landmark_pair((&a, None), (&b, None))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("b.csv") && e.contains("1 landmarks") && e.contains("has 2"),
            "{e}"
        );
    }

    #[test]
    fn an_index_pairs_files_of_one_case_or_of_the_top_folder() {
        let dir = TempDir::new("landmark-index");
        let root = dir.0.join("landmarks");
        for f in [
            "a.csv",
            "b.txt",
            "c1/c1.csv",
            "c1/c1_p1.csv",
            "c2/c2.csv",
            "c2/a.csv",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "1,2,3\n").unwrap();
        }
        std::fs::write(root.join("notes.md"), "x").unwrap();
        let idx = LandmarkIndex::discover(&root).unwrap();
        assert_eq!(idx.len(), 5);
        assert!(idx.pair("c1", "c1_p1").is_some());
        assert!(
            idx.pair("c1", "c2").is_none(),
            "two cases do not correspond"
        );
        assert!(idx.pair("c1", "b").is_none());
        // `a` is in case c2 (a case folder wins over the top), `b` at the top.
        assert!(idx.pair("a", "b").is_none());
        assert_eq!(idx.pair("a", "c2").unwrap().0, root.join("c2/a.csv"));
        assert!(idx.pair("a", "missing").is_none());
        assert!(
            LandmarkIndex::discover(&dir.0.join("none"))
                .unwrap()
                .is_empty()
        );
    }
}
