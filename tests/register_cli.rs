//! `voxflow register` run as a user runs it (the binary) on two breathing phases of a small
//! phantom subject: the outputs are there and say what the screen says (the displacement a
//! NIfTI DISPVECT field on the fixed grid, the landmark error improved), and bad input is an
//! error naming the file, with nothing written into the output directory.

mod common;

use common::{TempDir, voxflow};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;
use voxflow::data::io::{metaimage::ElementType, nifti, read_volume};
use voxflow::data::landmarks::write_landmarks_csv;
use voxflow::data::phantom::{PhantomConfig, generate_phase};

/// Two phases of one subject as NIfTI files, with masks and landmark CSVs.
fn pair(dir: &Path) -> [PathBuf; 6] {
    let cfg = PhantomConfig {
        n: 1,
        seed: 4,
        subsets: 1,
        grid_scale: 0.3,
        phases: 2,
    };
    let names = [
        "f.nii.gz",
        "m.nii.gz",
        "fm.nii.gz",
        "mm.nii.gz",
        "f.csv",
        "m.csv",
    ];
    let paths = names.map(|n| dir.join(n));
    for phase in 0..2 {
        let (image, mask, landmarks) = generate_phase(&cfg, 0, phase).unwrap();
        nifti::write(&paths[phase], &image, ElementType::I16).unwrap();
        nifti::write(&paths[2 + phase], &mask, ElementType::U8).unwrap();
        write_landmarks_csv(&paths[4 + phase], &landmarks).unwrap();
    }
    paths
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn register_writes_its_outputs_and_improves_the_landmark_error() {
    let tmp = TempDir::new("register-cli");
    let [f, m, fm, mm, fl, ml] = pair(&tmp.0);
    let out = tmp.0.join("out");
    let o = voxflow(&[
        "register",
        "--fixed",
        s(&f),
        "--moving",
        s(&m),
        "--out",
        s(&out),
        "--fixed-mask",
        s(&fm),
        "--moving-mask",
        s(&mm),
        "--fixed-landmarks",
        s(&fl),
        "--moving-landmarks",
        s(&ml),
        "--spacing",
        "8",
        "--iterations",
        "30",
    ]);
    assert!(o.status.success());
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(
        screen.contains("landmarks (") && screen.contains("masks: Dice"),
        "{screen}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let tre = |k: &str| summary["tre"][k]["mean"].as_f64().unwrap();
    assert!(tre("after") < 0.6 * tre("before"), "{summary}");
    assert!(
        summary["masks"]["dice"]["after"].as_f64() > summary["masks"]["dice"]["before"].as_f64()
    );
    assert_eq!(summary["folding_pct"].as_f64(), Some(0.0));
    // The outputs lie on the fixed image's grid; the displacement is a DISPVECT field.
    let fixed = read_volume(&f).unwrap();
    for name in ["warped.nii.gz", "warped_mask.nii.gz"] {
        let v = read_volume(&out.join(name)).unwrap();
        assert_eq!((v.dims, v.origin), (fixed.dims, fixed.origin), "{name}");
        assert!(
            v.spacing
                .iter()
                .zip(fixed.spacing)
                .all(|(a, b)| (a - b).abs() < 1e-4)
        );
    }
    let mut header = vec![0u8; 352];
    flate2::read::GzDecoder::new(std::fs::File::open(out.join("displacement.nii.gz")).unwrap())
        .read_exact(&mut header)
        .unwrap();
    let intent = i16::from_le_bytes([header[68], header[69]]);
    let dim: Vec<i16> = (0..6)
        .map(|k| i16::from_le_bytes([header[40 + 2 * k], header[41 + 2 * k]]))
        .collect();
    let [d, h, w] = fixed.dims.map(|x| x as i16);
    assert_eq!((intent, dim), (1006, vec![5, w, h, d, 1, 3]));
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "no temporary files left: {left:?}");
}

#[test]
fn bad_input_names_the_file_and_writes_nothing() {
    let tmp = TempDir::new("register-bad");
    let [f, m, fm, _, fl, _] = pair(&tmp.0);
    let out = tmp.0.join("out");
    let run = |extra: &[&str]| {
        let mut args = vec!["register", "--fixed", s(&f), "--out", s(&out)];
        args.extend_from_slice(extra);
        voxflow(&args)
    };
    let failed = |o: &Output, want: &[&str]| {
        assert!(!o.status.success());
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(want.iter().all(|w| e.contains(w)), "{want:?} in {e}");
        assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
    };
    // A moving scan 2 m away from the fixed one.
    let mut far = read_volume(&m).unwrap();
    far.origin[2] += 2000.0;
    let far_path = tmp.0.join("far.nii.gz");
    nifti::write(&far_path, &far, ElementType::I16).unwrap();
    failed(
        &run(&["--moving", s(&far_path)]),
        &["far.nii.gz", "do not overlap"],
    );
    // Landmark files whose rows do not correspond.
    let short = tmp.0.join("short.csv");
    std::fs::write(&short, "x,y,z\n1,2,3\n").unwrap();
    let o = run(&[
        "--moving",
        s(&m),
        "--fixed-landmarks",
        s(&fl),
        "--moving-landmarks",
        s(&short),
    ]);
    failed(&o, &["short.csv", "1 landmarks", "rows must correspond"]);
    // An empty mask.
    let mut empty = read_volume(&fm).unwrap();
    empty.data.iter_mut().for_each(|v| *v = 0.0);
    let empty_path = tmp.0.join("empty.nii.gz");
    nifti::write(&empty_path, &empty, ElementType::U8).unwrap();
    let o = run(&[
        "--moving",
        s(&m),
        "--fixed-mask",
        s(&fm),
        "--moving-mask",
        s(&empty_path),
    ]);
    failed(&o, &["empty.nii.gz", "the mask is empty"]);
    // A file that is not there.
    failed(&run(&["--moving", "/no/such.nii.gz"]), &["/no/such.nii.gz"]);
}
