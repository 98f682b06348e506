//! Tests of subject generation: determinism, anatomy values, masks, geometry; [`write`]: the
//! dataset written.

mod phases;
mod write;

use super::subject::{ID_PREFIX, Subject, subject_id};
use super::tissue::Tissue;
use super::*;

/// A small grid (about 60×60×35 voxels) keeps the tests fast; anatomy is the same.
pub(super) fn small(seed: u64) -> PhantomConfig {
    PhantomConfig {
        n: 4,
        seed,
        subsets: 3,
        grid_scale: 0.4,
        phases: 1,
    }
}

pub(super) use crate::testutil::TempDir;

pub(super) fn is_lung(v: f32) -> bool {
    v == 3.0 || v == 4.0
}

/// The first subject (of `cfg`'s seed) that satisfies `pred`.
pub(super) fn find(cfg: &PhantomConfig, pred: impl Fn(&Subject) -> bool) -> Subject {
    (0..200)
        .map(|i| Subject::draw(cfg, i))
        .find(|s| pred(s))
        .expect("some subject matches")
}

#[test]
fn same_seed_and_index_give_bitwise_identical_volumes_and_others_differ() {
    let cfg = small(7);
    let (a, am) = generate_subject(&cfg, 1).unwrap();
    let (b, bm) = generate_subject(
        &PhantomConfig {
            n: 99,
            ..cfg.clone()
        },
        1,
    )
    .unwrap();
    assert_eq!(a, b, "the subject must not depend on n");
    assert_eq!(am, bm);
    let (c, _) = generate_subject(&cfg, 2).unwrap();
    let (d, _) = generate_subject(&small(8), 1).unwrap();
    for other in [&c, &d] {
        assert!(a.dims != other.dims || a.data != other.data);
        assert_ne!(a.origin, other.origin);
    }
}

#[test]
fn generation_does_not_depend_on_the_thread_count() {
    let cfg = small(3);
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| generate_subject(&cfg, 0).unwrap())
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn tissues_have_chest_ct_hounsfield_values() {
    let s = Subject::draw(&small(0), 0);
    let (img, mask, classes) = render(&s);
    let mean = |pred: &dyn Fn(usize) -> bool| {
        let (mut sum, mut n) = (0.0f64, 0usize);
        for i in (0..img.len()).filter(|&i| pred(i)) {
            sum += img.data[i] as f64;
            n += 1;
        }
        assert!(n > 50, "too few voxels ({n})");
        sum / n as f64
    };
    let classes = &classes;
    let class = |c: Tissue| move |i: usize| classes[i] == c;
    let lung = mean(&|i| is_lung(mask.data[i]));
    assert!(lung < -600.0, "lung mask mean {lung}");
    let parenchyma = mean(&class(Tissue::Lung));
    assert!(
        (-900.0..-780.0).contains(&parenchyma),
        "parenchyma {parenchyma}"
    );
    let air = mean(&class(Tissue::Air));
    assert!((-1010.0..-990.0).contains(&air), "outside air {air}");
    let soft = mean(&class(Tissue::Soft));
    assert!((0.0..100.0).contains(&soft), "soft tissue {soft}");
    let heart = mean(&class(Tissue::Heart));
    assert!((0.0..100.0).contains(&heart), "heart {heart}");
    let fat = mean(&class(Tissue::Fat));
    assert!((-150.0..-50.0).contains(&fat), "fat {fat}");
    let bone = mean(&class(Tissue::Bone));
    assert!(bone > 250.0, "bone {bone}");
    assert!(mean(&class(Tissue::Vessel)) > -300.0);
    assert!(mean(&class(Tissue::Airway)) < -700.0);
    for (i, &v) in img.data.iter().enumerate() {
        assert!((-1024.0..=3071.0).contains(&v) && v.fract() == 0.0, "{v}");
        if classes[i] == Tissue::OutsideFov {
            assert_eq!(v, -1024.0);
        }
    }
    // Scanner noise: outside air spreads by about the subject's sigma (a little less, as
    // values below −1024 are clamped).
    let dev: Vec<f64> = (0..img.len())
        .filter(|&i| classes[i] == Tissue::Air)
        .map(|i| (img.data[i] as f64 - air).powi(2))
        .collect();
    let sd = (dev.iter().sum::<f64>() / dev.len() as f64).sqrt();
    let ratio = sd / s.noise_sigma;
    assert!(
        (0.5..1.1).contains(&ratio),
        "air sd {sd}, sigma {}",
        s.noise_sigma
    );
}

#[test]
fn masks_hold_lung_labels_on_the_image_grid_and_honour_the_direction() {
    let cfg = small(0);
    let flipped = find(&cfg, |s| s.flip[0] && s.flip[1]);
    let labelled = find(&cfg, |s| s.airway_labelled && !s.flip[0]);
    let plain = find(&cfg, |s| !s.airway_labelled && !s.flip[0] && !s.flip[1]);
    for s in [&flipped, &labelled, &plain] {
        let (img, mask, _) = render(s);
        assert_eq!(
            (img.dims, img.spacing, img.origin, img.direction),
            (mask.dims, mask.spacing, mask.origin, mask.direction)
        );
        let mut count = [0usize; 6];
        let mut centroid_x = [0.0f64; 2];
        let [_, h, w] = mask.dims;
        for (i, &v) in mask.data.iter().enumerate() {
            assert!([0.0, 3.0, 4.0, 5.0].contains(&v), "label {v}");
            count[v as usize] += 1;
            if is_lung(v) {
                let ijk = [(i % w) as f64, ((i / w) % h) as f64, (i / (w * h)) as f64];
                centroid_x[v as usize - 3] += mask.voxel_to_world(ijk)[0];
            }
        }
        assert!(
            count[3] > mask.len() / 100 && count[4] > mask.len() / 100,
            "{count:?}"
        );
        assert_eq!(count[5] > 0, s.airway_labelled, "{count:?}");
        // LPS: the right lung (3) lies at smaller world x than the left (4), flipped or not.
        assert!(centroid_x[0] / (count[3] as f64) < centroid_x[1] / (count[4] as f64));
    }
    assert_eq!(flipped.direction()[0][0], -1.0);
    assert_eq!(flipped.direction()[1][1], -1.0);
}

/// Dice of the lung masks of two volumes after bringing both to a common 40³ array grid the
/// way preprocessing does (corner-aligned, in storage orientation made canonical), with no
/// registration.
fn dice_unregistered(a: &Volume, b: &Volume) -> f64 {
    let n = 40;
    let sample = |v: &Volume, t: [f64; 3]| {
        let mut idx = [0usize; 3];
        for ax in 0..3 {
            let dim = v.dims[2 - ax];
            let mut f = t[ax] * (dim - 1) as f64;
            if v.direction[ax][ax] < 0.0 {
                f = (dim - 1) as f64 - f;
            }
            idx[ax] = f.round() as usize;
        }
        is_lung(v.at(idx[2], idx[1], idx[0]))
    };
    let (mut inter, mut sum) = (0usize, 0usize);
    for k in 0..n {
        for j in 0..n {
            for i in 0..n {
                let t = [i, j, k].map(|c| c as f64 / (n - 1) as f64);
                let (x, y) = (sample(a, t), sample(b, t));
                inter += usize::from(x && y);
                sum += usize::from(x) + usize::from(y);
            }
        }
    }
    2.0 * inter as f64 / sum as f64
}

#[test]
fn subjects_differ_geometrically_yet_overlap() {
    let cfg = small(0);
    let masks: Vec<Volume> = (0..4)
        .map(|i| generate_subject(&cfg, i).unwrap().1)
        .collect();
    for (a, b) in [(0, 1), (1, 2), (2, 3), (0, 3)] {
        let d = dice_unregistered(&masks[a], &masks[b]);
        assert!((0.3..0.9).contains(&d), "Dice({a}, {b}) = {d}");
    }
    assert!(dice_unregistered(&masks[0], &masks[0]) > 0.999);
}

#[test]
fn nodules_lie_where_the_record_says() {
    // Full resolution, so that nodules are larger than the partial-volume width.
    let cfg = PhantomConfig::default();
    let s = find(&cfg, |s| {
        s.flip[0] && s.nodules.iter().any(|n| n.radius > s.h)
    });
    let (img, mask, _) = render(&s);
    for n in s.nodules.iter().filter(|n| n.radius > s.h) {
        let v = img.world_to_voxel(n.world_mm).map(|c| c.round() as usize);
        let (hu, label) = (img.at(v[2], v[1], v[0]), mask.at(v[2], v[1], v[0]));
        assert!(hu > -300.0, "nodule centre {hu} HU");
        assert!(is_lung(label), "nodule centre label {label}");
        assert!((2.5..17.0).contains(&n.diameter_mm));
    }
}

#[test]
fn deformation_round_trips_and_ids_look_like_luna16() {
    let s = Subject::draw(&small(5), 3);
    for q in [[0.0, 0.0, 0.0], [60.0, -40.0, -80.0], [-90.0, 30.0, 40.0]] {
        let p = s.deform.to_world(q);
        let back = s.deform.to_canonical(p);
        assert!(
            q.iter().zip(back).all(|(a, b)| (a - b).abs() < 1e-6),
            "{q:?} {back:?}"
        );
    }
    let ids: Vec<String> = (0..500).map(|i| subject_id(0, i)).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len());
    for id in &ids {
        let digits = id.strip_prefix(ID_PREFIX).unwrap();
        assert!(digits.len() == 30 && digits.bytes().all(|b| b.is_ascii_digit()));
        assert!(!digits.starts_with('0'));
    }
    assert_eq!(subject_id(0, 1), ids[1]);
    assert_ne!(subject_id(1, 1), ids[1]);
}
