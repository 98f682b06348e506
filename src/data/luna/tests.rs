//! Discovery on temporary directory layouts (empty files: discovery never reads them).

use super::*;

/// A unique temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "voxflow-luna-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn touch(&self, rel: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"").unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn discovers_sorted_ids_masks_and_warns_about_missing_parts() {
    let t = TempDir::new("layout");
    for k in [0, 1, 2, 3, 4, 5, 6, 7, 9] {
        std::fs::create_dir_all(t.0.join(format!("subset{k}"))).unwrap();
    }
    t.touch("subset3/1.2.30.mhd");
    t.touch("subset3/1.2.30.raw");
    t.touch("subset0/1.2.9.mhd");
    t.touch("subset0/1.2.9.zraw");
    t.touch("subset0/notes.txt");
    t.touch("subset0/.1.2.8.mhd.tmp1");
    t.touch("subset9/b.mha");
    t.touch("subset7/c.nii.gz");
    std::fs::create_dir_all(t.0.join("subset5/dir.mhd")).unwrap();
    let m9 = t.touch("seg-lungs-LUNA16/1.2.9.mhd");
    t.touch("seg-lungs-LUNA16/1.2.9.zraw");
    let mb = t.touch("seg-lungs-LUNA16/b.mha");
    let mc = t.touch("seg-lungs-LUNA16/c.nii.gz");
    t.touch("seg-lungs-LUNA16/orphan.mhd");

    let (ds, warnings) = LunaDataset::discover(&t.0).unwrap();
    assert_eq!(ds.ids(), ["1.2.30", "1.2.9", "b", "c"]);
    assert_eq!(ds.len(), 4);
    assert_eq!(
        ds.image_path("1.2.9").unwrap(),
        t.0.join("subset0/1.2.9.mhd")
    );
    assert_eq!(ds.image_path("c").unwrap(), t.0.join("subset7/c.nii.gz"));
    assert_eq!(ds.mask_path("1.2.9").unwrap(), m9);
    assert_eq!(ds.mask_path("b").unwrap(), mb);
    assert_eq!(ds.mask_path("c").unwrap(), mc);
    assert!(!ds.has_masks());
    let e = ds.mask_path("1.2.30").unwrap_err().to_string();
    assert!(e.contains("1.2.30") && e.contains("no lung mask"), "{e}");
    let e = ds.image_path("nope").unwrap_err().to_string();
    assert!(e.contains("unknown scan id nope"), "{e}");
    assert!(ds.mask_path("nope").is_err());
    // One warning for the missing subset, one for the scan without mask.
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("missing subset8"), "{warnings:?}");
    assert!(
        warnings[1].contains("1 of 4 scans have no lung mask (1.2.30)"),
        "{warnings:?}"
    );
}

#[test]
fn all_masks_present_and_missing_mask_directory() {
    let t = TempDir::new("masks");
    t.touch("subset0/a.mhd");
    t.touch("subset1/b.mhd");
    t.touch("seg-lungs-LUNA16/a.mhd");
    t.touch("seg-lungs-LUNA16/b.mhd");
    let (ds, warnings) = LunaDataset::discover(&t.0).unwrap();
    assert!(ds.has_masks());
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("subset2, subset3"), "{warnings:?}");
    std::fs::remove_dir_all(t.0.join(MASK_DIR)).unwrap();
    let (ds, warnings) = LunaDataset::discover(&t.0).unwrap();
    assert!(!ds.has_masks());
    assert!(
        warnings[1].contains("no lung mask directory"),
        "{warnings:?}"
    );
    assert!(warnings[1].contains(MASK_DIR), "{warnings:?}");
}

#[test]
fn no_scans_or_no_root_is_an_error_naming_the_directory() {
    let t = TempDir::new("empty");
    t.touch("subset0/readme.txt");
    t.touch("seg-lungs-LUNA16/a.mhd");
    let e = LunaDataset::discover(&t.0).unwrap_err().to_string();
    let dir = t.0.display().to_string();
    assert!(e.contains(&format!("no scans found under {dir}")), "{e}");
    assert!(e.contains("subset0") && e.contains("<id>.mhd"), "{e}");
    let missing = t.0.join("not-there");
    let e = LunaDataset::discover(&missing).unwrap_err().to_string();
    assert!(e.contains(&missing.display().to_string()) && e.contains("does not exist"));
    // A file is not a data directory either.
    let file = t.touch("plain");
    assert!(LunaDataset::discover(&file).is_err());
}

#[test]
fn duplicate_ids_name_both_files() {
    let t = TempDir::new("dup");
    let a = t.touch("subset1/x.mhd");
    let b = t.touch("subset4/x.mhd");
    let e = LunaDataset::discover(&t.0).unwrap_err().to_string();
    assert!(e.contains("x is present twice"), "{e}");
    assert!(e.contains(&a.display().to_string()) && e.contains(&b.display().to_string()));
    // Within one subset, two formats of the same id.
    std::fs::remove_file(&b).unwrap();
    let c = t.touch("subset1/x.nii.gz");
    let e = LunaDataset::discover(&t.0).unwrap_err().to_string();
    assert!(e.contains(&a.display().to_string()) && e.contains(&c.display().to_string()));
}

#[test]
fn volume_ids_strip_only_known_extensions() {
    assert_eq!(volume_id("1.3.6.1.mhd"), Some("1.3.6.1"));
    assert_eq!(volume_id("scan.NII.GZ"), Some("scan"));
    assert_eq!(volume_id("scan.nii"), Some("scan"));
    assert_eq!(volume_id("scan.raw"), None);
    assert_eq!(volume_id(".mhd"), None);
    assert_eq!(volume_id(".hidden.mhd"), None);
    assert_eq!(volume_id("scan.gz"), None);
}
