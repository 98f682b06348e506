//! Discovery on temporary directory layouts (empty files: discovery never reads them).

use super::*;
use crate::testutil::TempDir;

/// A unique temporary directory, removed on drop.
impl TempDir {
    fn touch(&self, rel: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"").unwrap();
        p
    }
}

#[test]
fn discovers_sorted_ids_masks_and_warns_about_missing_parts() {
    let t = TempDir::new("luna-layout");
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
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(t.0.join("nowhere/x.mhd"), t.0.join("subset4/gone.mhd"))
            .unwrap();
        // A data file's odd name is not worth a warning; a volume's is.
        use std::os::unix::ffi::OsStrExt;
        let odd = |ext: &str| {
            let name = [b"odd\xff".as_slice(), ext.as_bytes()].concat();
            std::fs::write(
                t.0.join("subset4").join(std::ffi::OsStr::from_bytes(&name)),
                b"",
            )
            .unwrap();
        };
        odd(".raw");
        odd(".mhd");
    }

    let (ds, mut warnings) = LunaDataset::discover(&t.0).unwrap();
    #[cfg(unix)]
    {
        let at = |w: &[String], needle: &str| w.iter().position(|w| w.contains(needle));
        let broken = at(&warnings, "gone.mhd: skipped, cannot be opened").expect("broken link");
        warnings.remove(broken);
        let odd = at(&warnings, "the name is not UTF-8").expect("the odd volume name");
        assert!(warnings[odd].contains(".mhd"), "{warnings:?}");
        warnings.remove(odd);
        assert!(at(&warnings, "not UTF-8").is_none(), "{warnings:?}");
    }
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
    // A file where a subset should be is named as such.
    std::fs::write(t.0.join("subset8"), b"").unwrap();
    let (_, more) = LunaDataset::discover(&t.0).unwrap();
    assert!(
        more.iter().any(|w| w.contains("subset8: not a directory"))
            && !more.iter().any(|w| w.contains("missing subset8")),
        "{more:?}"
    );
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
    let t = TempDir::new("luna-masks");
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
    let t = TempDir::new("luna-empty");
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
    let t = TempDir::new("luna-dup");
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

/// Files to cached preprocessed volumes: MetaImage (int16 image, uint8 mask) and NIfTI scans
/// discovered, read, checked for a shared grid, preprocessed and cached.
#[test]
fn end_to_end_files_to_cached_preprocessed_volumes() {
    use crate::data::cache::{Cache, CacheStatus, Kind};
    use crate::data::io::{metaimage, nifti};
    use crate::data::preprocess::{preprocess_image, preprocess_mask};

    let t = TempDir::new("luna-e2e");
    let (d, h, w) = (6, 10, 12);
    let mut image = Volume::new(vec![0.0; d * h * w], [d, h, w], Path::new("a")).unwrap();
    image.spacing = [2.3, 2.3, 3.0];
    image.origin = [120.0, 80.0, -300.0];
    image.direction = [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]];
    let mut mask = image.clone();
    for (i, (v, m)) in image.data.iter_mut().zip(&mut mask.data).enumerate() {
        let x = i % w;
        *v = if x < 6 { -800.0 } else { 40.0 } + (i % 7) as f32;
        *m = if x < 6 { 3.0 } else { 5.0 };
    }
    for sub in ["subset0", "subset2", MASK_DIR] {
        std::fs::create_dir_all(t.0.join(sub)).unwrap();
    }
    let i16 = metaimage::ElementType::I16;
    let u8 = metaimage::ElementType::U8;
    metaimage::write(&t.0.join("subset0/a.mhd"), &image, i16, false).unwrap();
    metaimage::write(&t.0.join(MASK_DIR).join("a.mhd"), &mask, u8, true).unwrap();
    nifti::write(&t.0.join("subset2/b.nii.gz"), &image, i16).unwrap();
    let mut small = mask.clone();
    small.dims = [d, h, w / 2];
    small.data.truncate(d * h * w / 2);
    nifti::write(&t.0.join(MASK_DIR).join("b.nii"), &small, u8).unwrap();

    let (ds, _) = LunaDataset::discover(&t.0).unwrap();
    assert_eq!(ds.ids(), ["a", "b"]);
    let (img, msk) = ds.load_pair("a").unwrap();
    assert_eq!(
        (img.dims, img.spacing, img.origin),
        (image.dims, image.spacing, image.origin)
    );
    assert_eq!(
        (img.data, msk.data),
        (image.data.clone(), mask.data.clone())
    );
    let b = ds.load_image("b").unwrap();
    assert_eq!(b.dims, image.dims);
    let e = ds.load_pair("b").unwrap_err().to_string();
    assert!(
        e.contains("b.nii") && e.contains("size 6x10x6") && e.contains("not on one grid"),
        "{e}"
    );

    // A mask without LUNA16's lung labels (a binary 0/1 mask) is refused, naming the file
    // and what it holds, instead of reading as an empty lung.
    let binary = Volume {
        data: mask.data.iter().map(|&m| f32::from(m == 3.0)).collect(),
        ..mask.clone()
    };
    nifti::write(&t.0.join("subset0/c.nii"), &image, i16).unwrap();
    nifti::write(&t.0.join(MASK_DIR).join("c.nii"), &binary, u8).unwrap();
    let (ds2, _) = LunaDataset::discover(&t.0).unwrap();
    for e in [
        ds2.load_mask("c").unwrap_err().to_string(),
        ds2.load_pair("c").unwrap_err().to_string(),
    ] {
        assert!(
            e.contains("c.nii") && e.contains("labelled 3 or 4") && e.contains("values 0 and 1"),
            "{e}"
        );
    }
    assert!(ds2.load_mask("a").is_ok());
    assert_eq!(label_summary(&[0.0; 4]), "only 0");
    assert_eq!(
        label_summary(&[2.0, -0.0, 0.0, -1.5]),
        "the values -1.5, 0 and 2"
    );
    assert_eq!(
        label_summary(&(0..9).map(|v| v as f32).collect::<Vec<_>>()),
        "9 distinct values: 0, 1, 2, 3, 4, 5, ..."
    );
    std::fs::remove_file(t.0.join("subset0/c.nii")).unwrap();

    let cache = Cache::new(&t.0.join("cache")).unwrap();
    let grid = [8, 8, 16];
    let build = || preprocess_image(&ds.load_image("a")?, grid).map(|v| v.data);
    let (first, s1) = cache.fetch("a", Kind::Image, grid, 0, build).unwrap();
    let (second, s2) = cache.fetch("a", Kind::Image, grid, 0, build).unwrap();
    assert_eq!((s1, s2), (CacheStatus::Built, CacheStatus::Hit));
    assert_eq!(first, second);
    let m = cache
        .get_or_build("a", Kind::Mask, grid, 0, || {
            preprocess_mask(&ds.load_mask("a")?, grid).map(|v| v.data)
        })
        .unwrap();
    // The lung is the first 6 of 12 array columns, but x runs backwards (direction −1), so
    // reoriented it is columns 6..12. 1 mm x runs 0..=27 (round(12·2.3) = 28); column
    // round(i/2.3) ≥ 6 for i ≥ 13; grid column k samples i = round(1.8·k): 11 for k = 6, 13
    // for k = 7.
    for (i, &v) in m.iter().enumerate() {
        assert_eq!(v, if i % 16 >= 7 { 1.0 } else { 0.0 }, "voxel {i}");
    }
    // A file that is not a volume gives a read error naming it, through the build closure.
    std::fs::write(t.0.join("subset0/a.mhd"), b"NDims = banana\n").unwrap();
    let e = cache
        .get_or_build("a", Kind::Image, [4, 4, 4], 0, || {
            preprocess_image(&ds.load_image("a")?, [4, 4, 4]).map(|v| v.data)
        })
        .unwrap_err();
    assert!(e.to_string().contains("a.mhd"), "{e}");
}

#[test]
fn a_mask_pairs_with_its_image_voxel_for_voxel_whatever_its_header_orientation() {
    use crate::data::io::metaimage;
    use crate::data::preprocess::{preprocess_image, preprocess_mask};
    let t = TempDir::new("luna-mask-orientation");
    let (d, h, w) = (4, 5, 6);
    let mut image = Volume::new(vec![0.0; d * h * w], [d, h, w], Path::new("a")).unwrap();
    // 1 mm voxels on the network grid: preprocessing only reorients and normalizes.
    image.direction = [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]];
    image.origin = [50.0, 40.0, 0.0];
    let mut mask = image.clone();
    for (i, (v, m)) in image.data.iter_mut().zip(&mut mask.data).enumerate() {
        let lung = i % w < 3;
        *v = if lung { -800.0 } else { 40.0 };
        *m = if lung { 3.0 } else { 0.0 };
    }
    // The mask's header forgets the flips (identity direction, another origin).
    mask.direction = crate::data::volume::IDENTITY_DIRECTION;
    mask.origin = [0.0; 3];
    for sub in ["subset0", MASK_DIR] {
        std::fs::create_dir_all(t.0.join(sub)).unwrap();
    }
    let i16 = metaimage::ElementType::I16;
    metaimage::write(&t.0.join("subset0/a.mhd"), &image, i16, false).unwrap();
    metaimage::write(&t.0.join(MASK_DIR).join("a.mhd"), &mask, i16, false).unwrap();
    let (ds, _) = LunaDataset::discover(&t.0).unwrap();
    let (img, msk) = ds.load_pair("a").unwrap();
    assert_eq!((msk.origin, msk.direction), (img.origin, img.direction));
    // After preprocessing (which undoes the image's flips) the lung is still where the dark
    // voxels are.
    let grid = [4, 5, 6];
    let (pi, pm) = (
        preprocess_image(&img, grid).unwrap(),
        preprocess_mask(&msk, grid).unwrap(),
    );
    let lo = pi.data.iter().cloned().fold(f32::INFINITY, f32::min);
    for (v, m) in pi.data.iter().zip(&pm.data) {
        assert_eq!(*m == 1.0, *v == lo, "image {v}, mask {m}");
    }
    assert!(pm.data[..w].contains(&1.0) && pm.data[..w].contains(&0.0));
}
