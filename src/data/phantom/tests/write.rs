//! Tests of writing the dataset (layout, manifest, idempotence, refusals) and of the PNG
//! preview.

use super::super::*;
use super::{TempDir, find, is_lung, small};
use std::path::Path;

#[test]
fn bad_configurations_are_errors() {
    let base = PhantomConfig::default();
    let bad = [
        PhantomConfig {
            n: 0,
            ..base.clone()
        },
        PhantomConfig {
            subsets: 0,
            ..base.clone()
        },
        PhantomConfig {
            subsets: 11,
            ..base.clone()
        },
        PhantomConfig {
            grid_scale: f64::NAN,
            ..base.clone()
        },
        PhantomConfig {
            grid_scale: 5.0,
            ..base.clone()
        },
    ];
    for cfg in bad {
        let e = generate_subject(&cfg, 0).unwrap_err().to_string();
        assert!(e.contains("phantom configuration"), "{e}");
        let dir = TempDir::absent("badcfg");
        assert!(write_dataset(&dir.0, &cfg).is_err());
        assert!(
            !dir.0.exists(),
            "nothing is written for a bad configuration"
        );
    }
}

fn header(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn line<'a>(h: &'a [String], key: &str) -> &'a str {
    h.iter()
        .find_map(|l| l.strip_prefix(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no {key} in {h:?}"))
}

#[test]
fn written_dataset_has_the_luna16_layout() {
    use std::io::Read;
    let dir = TempDir::absent("layout");
    let cfg = small(11);
    let summary = write_dataset(&dir.0, &cfg).unwrap();
    assert!(!summary.reused && summary.subjects.iter().all(|s| s.written));
    let json = std::fs::read(dir.0.join("phantom.json")).unwrap();
    let manifest: PhantomManifest = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        (manifest.seed, manifest.n, manifest.version),
        (11, 4, GENERATOR_VERSION)
    );
    let mut written = 0;
    for (k, (rec, sum)) in manifest.subjects.iter().zip(&summary.subjects).enumerate() {
        assert_eq!(
            (rec.index, &rec.id, rec.image.as_str()),
            (k, &sum.id, &*format!("subset{}/{}.mhd", k % 3, sum.id))
        );
        let [w, h, d] = rec.dim_size;
        let img = header(&dir.0.join(&rec.image));
        assert_eq!(line(&img, "ElementType"), "MET_SHORT");
        assert_eq!(line(&img, "CompressedData"), "False");
        assert_eq!(line(&img, "DimSize"), format!("{w} {h} {d}"));
        assert_eq!(line(&img, "ElementDataFile"), format!("{}.raw", rec.id));
        let sx = if rec.direction[0][0] < 0.0 { "-1" } else { "1" };
        assert!(line(&img, "TransformMatrix").starts_with(sx));
        let raw = dir.0.join(format!("subset{}/{}.raw", k % 3, rec.id));
        assert_eq!(
            std::fs::metadata(&raw).unwrap().len(),
            (w * h * d * 2) as u64
        );
        let msk = header(&dir.0.join(&rec.mask));
        assert_eq!(line(&msk, "ElementType"), "MET_UCHAR");
        assert_eq!(line(&msk, "CompressedData"), "True");
        for key in ["DimSize", "ElementSpacing", "Offset", "TransformMatrix"] {
            assert_eq!(line(&msk, key), line(&img, key), "{key}");
        }
        let zraw = std::fs::read(dir.0.join(format!("seg-lungs-LUNA16/{}.zraw", rec.id))).unwrap();
        assert_eq!(line(&msk, "CompressedDataSize"), zraw.len().to_string());
        let mut labels = Vec::new();
        flate2::read::ZlibDecoder::new(&zraw[..])
            .read_to_end(&mut labels)
            .unwrap();
        assert_eq!(labels.len(), w * h * d);
        assert!(labels.iter().all(|l| [0, 3, 4, 5].contains(l)));
        // The raw image matches the in-memory subject.
        let (vol, _) = generate_subject(&cfg, k).unwrap();
        let bytes = std::fs::read(&raw).unwrap();
        let first = i16::from_le_bytes([bytes[0], bytes[1]]) as f32;
        let mid = (w * h * d) / 2;
        let middle = i16::from_le_bytes([bytes[2 * mid], bytes[2 * mid + 1]]) as f32;
        assert_eq!((first, middle), (vol.data[0], vol.data[mid]));
        written += sum.bytes;
    }
    assert!(summary.bytes_written > written);
    let csv = std::fs::read_to_string(dir.0.join("annotations.csv")).unwrap();
    let nodules: usize = manifest.subjects.iter().map(|s| s.nodules.len()).sum();
    assert_eq!(csv.lines().count(), 1 + nodules);
    assert!(csv.starts_with("seriesuid,coordX,coordY,coordZ,diameter_mm\n"));
}

#[test]
fn writing_again_is_a_noop_and_repairs_missing_subjects() {
    let dir = TempDir::absent("again");
    let cfg = PhantomConfig { n: 3, ..small(2) };
    let first = write_dataset(&dir.0, &cfg).unwrap();
    let again = write_dataset(&dir.0, &cfg).unwrap();
    assert!(again.reused && again.bytes_written == 0);
    assert!(again.subjects.iter().all(|s| !s.written));
    let id = &first.subjects[1].id;
    let raw = dir.0.join(format!("subset1/{id}.raw"));
    let before = std::fs::read(&raw).unwrap();
    std::fs::write(&raw, &before[..100]).unwrap(); // truncated
    let repaired = write_dataset(&dir.0, &cfg).unwrap();
    assert!(!repaired.reused);
    let rewritten: Vec<bool> = repaired.subjects.iter().map(|s| s.written).collect();
    assert_eq!(rewritten, [false, true, false]);
    assert_eq!(std::fs::read(&raw).unwrap(), before);
}

#[test]
fn foreign_or_different_directories_are_refused_untouched() {
    let dir = TempDir::absent("refuse");
    std::fs::create_dir_all(&dir.0).unwrap();
    let mine = dir.0.join("notes.txt");
    std::fs::write(&mine, "keep me").unwrap();
    let cfg = PhantomConfig { n: 1, ..small(0) };
    let e = write_dataset(&dir.0, &cfg).unwrap_err().to_string();
    assert!(
        e.contains(&*dir.0.to_string_lossy()) && e.contains("not empty"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "keep me");
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 1);

    let ph = dir.0.join("ph");
    write_dataset(&ph, &cfg).unwrap();
    let e = write_dataset(
        &ph,
        &PhantomConfig {
            seed: 1,
            ..cfg.clone()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("different phantom"), "{e}");
    let e = write_dataset(&mine, &cfg).unwrap_err().to_string();
    assert!(
        e.contains("notes.txt") && e.contains("not a directory"),
        "{e}"
    );
}

#[test]
fn axial_png_shows_dark_lungs_inside_a_brighter_body() {
    let dir = TempDir::absent("png");
    std::fs::create_dir_all(&dir.0).unwrap();
    let s = find(&small(0), |s| s.flip[0]);
    let (img, mask, _) = render(&s);
    let [d, h, w] = img.dims;
    let z = (0..d)
        .max_by_key(|&z| {
            (0..h * w)
                .filter(|&i| is_lung(mask.data[z * h * w + i]))
                .count()
        })
        .unwrap();
    let path = dir.0.join("slice.png");
    std::fs::write(&path, axial_png(&img, z, (-1000.0, 400.0)).unwrap()).unwrap();
    let decode = |bytes: &[u8]| {
        let mut r = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (w as u32, h as u32));
        buf
    };
    let gray = decode(&std::fs::read(&path).unwrap());
    let labels = decode(&axial_png(&mask, z, (0.0, 255.0)).unwrap());
    let (mut lung, mut body) = (vec![], vec![]);
    for (g, l) in gray.iter().zip(&labels) {
        if *l == 3 || *l == 4 {
            lung.push(*g as f64);
        } else if *g > 100 {
            body.push(*g as f64);
        }
    }
    let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(lung.len() > 100 && body.len() > 100);
    assert!(
        avg(&lung) + 80.0 < avg(&body),
        "lung {} body {}",
        avg(&lung),
        avg(&body)
    );
    // Displayed in radiological orientation: the right lung (label 3) on the image's left.
    let mean_col = |label: u8| {
        let cols: Vec<f64> = labels
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == label)
            .map(|(i, _)| (i % w) as f64)
            .collect();
        avg(&cols)
    };
    assert!(mean_col(3) < mean_col(4));
    assert!(axial_png(&img, d, (-1000.0, 400.0)).is_err());
}
