//! Tests of breathing phases and landmarks: the true map between two phases of a subject sends
//! each landmark onto its partner, landmarks sit in the lungs, phases move them, and the
//! written dataset holds every phase with its landmark file.

use super::super::phases::draw_phase;
use super::super::*;
use super::{TempDir, is_lung, small};
use crate::data::landmarks::{LandmarkIndex, read_landmarks};
use crate::metrics::{TreStats, landmark_errors};

#[test]
fn the_true_map_between_phases_scores_zero_and_no_registration_does_not() {
    let cfg = PhantomConfig {
        phases: 2,
        ..small(4)
    };
    let (a, b) = (draw_phase(&cfg, 1, 0), draw_phase(&cfg, 1, 1));
    assert_eq!(b.id, format!("{}_p1", a.id));
    let la = subject_landmarks(&cfg, 1, 0);
    let lb = subject_landmarks(&cfg, 1, 1);
    assert_eq!(la.len(), lb.len());
    assert!(la.len() > LUNG_LANDMARKS && la.len() <= LUNG_LANDMARKS + BIFURCATION_LANDMARKS);
    // The true map fixed (phase 0) → moving (phase 1): through the canonical anatomy.
    let map = phase_map(&cfg, 1, 0, 1);
    let mapped: Vec<[f64; 3]> = la.iter().map(|&p| map(p)).collect();
    let exact = TreStats::of(&landmark_errors(&mapped, &lb));
    assert!(exact.max < 1e-6, "true map: {exact:?}");
    let none = TreStats::of(&landmark_errors(&la, &lb));
    assert!(
        none.mean > 2.0 && none.max < 60.0,
        "phases differ by a breathing-like motion: {none:?}"
    );
    // The anatomy is the subject's: same trees and nodules in the canonical frame.
    assert_eq!(a.vessels.segs.len(), b.vessels.segs.len());
    assert_eq!(a.nodules.len(), b.nodules.len());
}

#[test]
fn landmarks_lie_in_the_lungs_of_each_phase() {
    let cfg = PhantomConfig {
        phases: 2,
        ..small(5)
    };
    for phase in 0..2 {
        let (image, mask, points) = generate_phase(&cfg, 0, phase).unwrap();
        assert_eq!(image.dims, mask.dims);
        let lung: Vec<bool> = points[..LUNG_LANDMARKS]
            .iter()
            .map(|&p| {
                let v = mask.world_to_voxel(p).map(|c| c.round() as usize);
                is_lung(mask.at(v[2], v[1], v[0]))
            })
            .collect();
        let inside = lung.iter().filter(|&&l| l).count();
        assert!(
            inside as f64 >= 0.97 * LUNG_LANDMARKS as f64,
            "phase {phase}: {inside} of {LUNG_LANDMARKS} lung landmarks in the lung mask"
        );
    }
}

#[test]
fn a_dataset_with_phases_holds_every_scan_and_its_landmarks() {
    let dir = TempDir::absent("phases");
    let cfg = PhantomConfig {
        n: 2,
        phases: 2,
        ..small(6)
    };
    let summary = write_dataset(&dir.0, &cfg).unwrap();
    let ids: Vec<&str> = summary.subjects.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(ids[1], format!("{}_p1", ids[0]));
    for (k, id) in ids.iter().enumerate() {
        let subject = ids[k - k % 2];
        let file = dir.0.join(format!("landmarks/{subject}/{id}.csv"));
        let written = read_landmarks(&file, None).unwrap();
        let (_, _, want) = generate_phase(&cfg, k / 2, k % 2).unwrap();
        assert_eq!(written, want, "{id}");
    }
    let manifest: PhantomManifest =
        serde_json::from_slice(&std::fs::read(dir.0.join("phantom.json")).unwrap()).unwrap();
    assert_eq!(manifest.phases, 2);
    assert_eq!(
        manifest
            .subjects
            .iter()
            .map(|r| r.phase)
            .collect::<Vec<_>>(),
        vec![0, 1, 0, 1]
    );
    // A landmark file removed is written again; the dataset is otherwise kept.
    let last = dir.0.join(format!("landmarks/{}/{}.csv", ids[2], ids[3]));
    std::fs::remove_file(&last).unwrap();
    let again = write_dataset(&dir.0, &cfg).unwrap();
    assert!(again.subjects.iter().all(|s| !s.written));
    assert!(last.is_file());
    // Rows correspond within a subject's folder only.
    let index = LandmarkIndex::discover(&dir.0.join("landmarks")).unwrap();
    assert!(index.pair(ids[0], ids[1]).is_some());
    assert!(index.pair(ids[0], ids[2]).is_none());
    // Another phase count is another dataset.
    let e = write_dataset(&dir.0, &PhantomConfig { phases: 3, ..cfg })
        .unwrap_err()
        .to_string();
    assert!(e.contains("phases 2") && e.contains("phases 3"), "{e}");
}
