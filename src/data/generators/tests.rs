//! Pairing, determinism, coverage, resume, and image/mask pairing of the generators.

use super::*;
use std::collections::{BTreeSet, HashMap};

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("scan{i:02}")).collect()
}

/// A source whose image of scan `k` is `k` everywhere and whose mask is `k + 0.5`, so a batch
/// shows which id each volume came from.
struct Tagged {
    grid: [usize; 3],
    tag: HashMap<String, f32>,
}

impl Tagged {
    fn new(ids: &[String]) -> Self {
        let tag = ids
            .iter()
            .enumerate()
            .map(|(k, id)| (id.clone(), k as f32))
            .collect();
        Tagged {
            grid: [2, 3, 4],
            tag,
        }
    }
}

impl VolumeSource for Tagged {
    fn grid(&self) -> [usize; 3] {
        self.grid
    }
    fn image(&self, id: &str) -> DataResult<Arc<Vec<f32>>> {
        let k = self
            .tag
            .get(id)
            .ok_or_else(|| DataError::Dataset(format!("unknown id {id}")))?;
        Ok(Arc::new(vec![*k; 24]))
    }
    fn mask(&self, id: &str) -> DataResult<Arc<Vec<f32>>> {
        Ok(Arc::new(vec![self.image(id)?[0] + 0.5; 24]))
    }
    fn has_mask(&self, _id: &str) -> bool {
        true
    }
}

#[test]
fn every_epoch_covers_each_scan_once_with_distinct_targets() {
    for kind in [GenKind::Luna, GenKind::LunaSeg] {
        let mut g = PairGenerator::new(kind, ids(7), None, 1, 3).unwrap();
        for _epoch in 0..4 {
            let pairs: Vec<Pair> = (0..7).flat_map(|_| g.next_batch()).collect();
            let srcs: BTreeSet<&str> = pairs.iter().map(|p| p.src.as_str()).collect();
            assert_eq!(srcs.len(), 7, "each scan is a source once per epoch");
            assert!(pairs.iter().all(|p| p.src != p.tgt));
        }
    }
}

#[test]
fn atlas_generators_pair_every_other_scan_with_the_atlas() {
    let mut g = PairGenerator::new(GenKind::Atlas, ids(5), Some("scan02".into()), 2, 0).unwrap();
    assert_eq!(g.pairs_per_epoch(), 4);
    let pairs: Vec<Pair> = (0..2).flat_map(|_| g.next_batch()).collect();
    assert!(pairs.iter().all(|p| p.tgt == "scan02" && p.src != "scan02"));
    let e = PairGenerator::new(GenKind::AtlasSeg, ids(5), None, 1, 0).unwrap_err();
    assert!(
        e.to_string().contains("atlas_seg") && e.to_string().contains("atlas_id"),
        "{e}"
    );
    let e = PairGenerator::new(GenKind::Luna, ids(1), None, 1, 0).unwrap_err();
    assert!(e.to_string().contains("at least 2"), "{e}");
    let e = PairGenerator::new(GenKind::Luna, ids(3), None, 0, 0).unwrap_err();
    assert!(e.to_string().contains("batch size"), "{e}");
}

#[test]
fn order_is_seeded_and_reshuffled_per_epoch() {
    let run = |seed| {
        let mut g = PairGenerator::new(GenKind::Luna, ids(9), None, 3, seed).unwrap();
        (0..6).flat_map(|_| g.next_batch()).collect::<Vec<_>>()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
    let r = run(1);
    let first: Vec<&str> = r[..9].iter().map(|p| p.src.as_str()).collect();
    let second: Vec<&str> = r[9..].iter().map(|p| p.src.as_str()).collect();
    assert_ne!(first, second, "epochs are reshuffled");
}

#[test]
fn restoring_a_saved_position_continues_exactly() {
    let mut a = PairGenerator::new(GenKind::Luna, ids(5), None, 2, 11).unwrap();
    for _ in 0..4 {
        a.next_batch(); // 8 pairs: into the second epoch
    }
    let saved = a.state();
    assert_eq!(
        saved,
        GenState {
            epoch: 1,
            cursor: 3
        }
    );
    let want: Vec<Pair> = (0..5).flat_map(|_| a.next_batch()).collect();
    let mut b = PairGenerator::new(GenKind::Luna, ids(5), None, 2, 11).unwrap();
    b.restore(saved).unwrap();
    let got: Vec<Pair> = (0..5).flat_map(|_| b.next_batch()).collect();
    assert_eq!(got, want);
    let e = b
        .restore(GenState {
            epoch: 0,
            cursor: 99,
        })
        .unwrap_err();
    assert!(e.to_string().contains("99"), "{e}");
}

#[test]
fn batches_keep_images_and_masks_of_the_same_scan_together() {
    let list = ids(6);
    let source = Tagged::new(&list);
    let mut g = PairGenerator::new(GenKind::LunaSeg, list.clone(), None, 3, 5).unwrap();
    for _ in 0..4 {
        let b = assemble(GenKind::LunaSeg, g.next_batch(), &source, true).unwrap();
        assert_eq!(b.src.dims(), [3, 2, 3, 4, 1]);
        let (src, tgt) = (b.src.to_vec().unwrap(), b.tgt.to_vec().unwrap());
        let (sm, tm) = (
            b.src_mask.unwrap().to_vec().unwrap(),
            b.tgt_mask.unwrap().to_vec().unwrap(),
        );
        for (i, p) in b.pairs.iter().enumerate() {
            let k_src = list.iter().position(|x| *x == p.src).unwrap() as f32;
            let k_tgt = list.iter().position(|x| *x == p.tgt).unwrap() as f32;
            assert_eq!(src[i * 24], k_src);
            assert_eq!(sm[i * 24], k_src + 0.5, "mask follows its image");
            assert_eq!(tgt[i * 24], k_tgt);
            assert_eq!(tm[i * 24], k_tgt + 0.5);
        }
        assert_eq!(b.identity_gradient.dims(), [3, 2, 3, 4, 3]);
        assert!(
            b.identity_gradient
                .to_vec()
                .unwrap()
                .iter()
                .all(|&v| v == 0.5)
        );
        assert_eq!(b.identity_affine.unwrap().to_vec().unwrap(), vec![0.0; 36]);
    }
    let plain = assemble(
        GenKind::Luna,
        vec![Pair {
            src: list[0].clone(),
            tgt: list[1].clone(),
        }],
        &source,
        false,
    )
    .unwrap();
    assert!(plain.src_mask.is_none() && plain.identity_affine.is_none());
    let e = assemble(
        GenKind::Luna,
        vec![Pair {
            src: "nope".into(),
            tgt: list[1].clone(),
        }],
        &source,
        false,
    )
    .unwrap_err();
    assert!(e.to_string().contains("nope"));
}

#[test]
fn single_pass_visits_each_sample_once_in_list_order() {
    let list = ids(4);
    let pairs = single_pass(GenKind::Luna, &list, None).unwrap();
    let labels: Vec<String> = pairs.iter().map(Pair::label).collect();
    assert_eq!(
        labels,
        [
            "scan00->scan01",
            "scan01->scan02",
            "scan02->scan03",
            "scan03->scan00"
        ]
    );
    let pairs = single_pass(GenKind::AtlasSeg, &list, Some("scan01")).unwrap();
    assert_eq!(
        pairs.iter().map(|p| p.src.as_str()).collect::<Vec<_>>(),
        ["scan00", "scan02", "scan03"]
    );
    assert!(pairs.iter().all(|p| p.tgt == "scan01"));
    let only = |list: &[String]| {
        single_pass(GenKind::Atlas, list, Some("scan01"))
            .unwrap_err()
            .to_string()
    };
    assert!(only(&[]).contains("(the id list is empty)"));
    assert!(only(&["scan01".to_string()]).contains("(the id list holds only the atlas)"));
}

#[test]
fn generator_names_parse() {
    for k in [
        GenKind::Luna,
        GenKind::LunaSeg,
        GenKind::Atlas,
        GenKind::AtlasSeg,
    ] {
        assert_eq!(k.name().parse::<GenKind>().unwrap(), k);
    }
    let e = "lunar".parse::<GenKind>().unwrap_err().to_string();
    assert!(e.contains("lunar") && e.contains("atlas_seg"), "{e}");
}
