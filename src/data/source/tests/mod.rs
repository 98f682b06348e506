//! PreparedSource on a tiny LUNA16-layout dataset written with `metaimage::write`: values
//! equal to the pipeline, binary masks, the disk cache reused by a new source, and the loader.
//! Errors, damaged cache entries, the memory budget and concurrency are in `robustness.rs`.

use super::*;
use crate::data::generators::{GenKind, PairGenerator};
use crate::data::io::metaimage::{self, ElementType};
use crate::data::io::read_volume;
use crate::data::loader::Loader;
use crate::data::luna::MASK_DIR;
use crate::data::volume::Volume;
pub(super) use crate::testutil::TempDir;

mod robustness;

/// A unique temporary directory, removed on drop.
impl TempDir {
    fn cache(&self) -> PathBuf {
        default_cache_dir(&self.0)
    }
}

const GRID: [usize; 3] = [5, 6, 7];
const IDS: [&str; 3] = ["1.3.6.1.4.100", "1.3.6.1.4.200", "1.3.6.1.4.300"];

/// Scan `k`: a CT-like int16 image (air, body, two lungs, a k-dependent texture) with
/// anisotropic spacing, and its uint8 mask (3 right lung, 4 left lung, 5 airway, 0 else).
fn scan(k: usize) -> (Volume, Volume) {
    let dims = [6 + k, 12, 11 + k];
    let [d, h, w] = dims;
    let (mut img, mut mask) = (Vec::new(), Vec::new());
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                let (u, v) = (
                    x as f32 / (w - 1) as f32 - 0.5,
                    y as f32 / (h - 1) as f32 - 0.5,
                );
                let body = u * u + v * v < 0.2;
                let lung = body && v.abs() < 0.3 && u.abs() > 0.08 && u.abs() < 0.38;
                let airway = body && u.abs() <= 0.05 && v.abs() < 0.1;
                let tex = ((x * 7 + y * 3 + z * (5 + k)) % 11) as f32 * 9.0;
                img.push(match (body, lung) {
                    (false, _) => -1024.0,
                    (true, true) => -820.0 + tex,
                    (true, false) => 30.0 + tex + 40.0 * k as f32,
                });
                mask.push(match (lung, airway, u < 0.0) {
                    (true, _, true) => 3.0,
                    (true, _, false) => 4.0,
                    (false, true, _) => 5.0,
                    _ => 0.0,
                });
            }
        }
    }
    let p = Path::new("test");
    let mut image = Volume::new(img, dims, p).unwrap();
    image.spacing = [0.8 + 0.1 * k as f64, 0.9, 2.0];
    image.origin = [-100.0, 20.0, -300.0 + k as f64];
    let mut label = Volume::new(mask, dims, p).unwrap();
    label.spacing = image.spacing;
    label.origin = image.origin;
    (image, label)
}

/// Writes the scans of `IDS` (masks only for the first `masked`) in the LUNA16 layout.
fn write_dataset(root: &Path, masked: usize) -> LunaDataset {
    for (k, id) in IDS.iter().enumerate() {
        let (image, mask) = scan(k);
        let sub = root.join(format!("subset{}", k % 2));
        std::fs::create_dir_all(&sub).unwrap();
        metaimage::write(
            &sub.join(format!("{id}.mhd")),
            &image,
            ElementType::I16,
            k == 1,
        )
        .unwrap();
        if k < masked {
            let dir = root.join(MASK_DIR);
            std::fs::create_dir_all(&dir).unwrap();
            metaimage::write(
                &dir.join(format!("{id}.mhd")),
                &mask,
                ElementType::U8,
                false,
            )
            .unwrap();
        }
    }
    LunaDataset::discover(root).unwrap().0
}

fn direct(ds: &LunaDataset, id: &str) -> (Vec<f32>, Vec<f32>) {
    let image = read_volume(ds.image_path(id).unwrap()).unwrap();
    let mask = read_volume(ds.mask_path(id).unwrap()).unwrap();
    (
        preprocess_image(&image, GRID).unwrap().data,
        preprocess_mask(&mask, GRID).unwrap().data,
    )
}

#[test]
fn values_equal_the_pipeline_and_masks_are_binary() {
    let t = TempDir::new("source-values");
    let ds = write_dataset(&t.0, 3);
    let src = PreparedSource::new(ds.clone(), t.cache(), GRID).unwrap();
    assert_eq!(src.grid(), GRID);
    let n: usize = GRID.iter().product();
    for id in IDS {
        let (image, mask) = direct(&ds, id);
        let got = src.image(id).unwrap();
        assert_eq!(got.len(), n);
        assert_eq!(*got, image, "{id}: image differs from the pipeline");
        assert_eq!(*src.mask(id).unwrap(), mask, "{id}: mask");
        assert!(mask.iter().all(|&v| v == 0.0 || v == 1.0), "{id}: {mask:?}");
        let lungs = mask.iter().filter(|&&v| v == 1.0).count();
        assert!(lungs > 0 && lungs < n, "{id}: {lungs} lung voxels of {n}");
    }
    // The three scans differ, so equality above is not vacuous.
    assert_ne!(*src.image(IDS[0]).unwrap(), *src.image(IDS[1]).unwrap());
    let events = src.drain_events();
    assert_eq!(events.len(), 6);
    assert!(events.iter().all(|e| e.status == CacheStatus::Built));
    assert_eq!(
        events[1].to_string(),
        format!("scan {} mask: built new cache entry", IDS[0])
    );
    assert!(src.drain_events().is_empty(), "drained");
    let s = src.stats();
    assert_eq!((s.cache.built, s.cache.hits, s.memory_hits), (6, 0, 2));
}

#[test]
fn a_second_source_on_the_same_cache_reads_instead_of_building() {
    let t = TempDir::new("source-reuse");
    let ds = write_dataset(&t.0, 3);
    let expected: Vec<_> = IDS.iter().map(|id| direct(&ds, id)).collect();
    let first = PreparedSource::new(ds.clone(), t.cache(), GRID).unwrap();
    for id in IDS {
        first.image(id).unwrap();
        first.mask(id).unwrap();
    }
    let second = PreparedSource::new(ds.clone(), t.cache(), GRID).unwrap();
    for (id, (image, mask)) in IDS.iter().zip(&expected) {
        assert_eq!(*second.image(id).unwrap(), *image);
        assert_eq!(*second.mask(id).unwrap(), *mask);
    }
    let events = second.drain_events();
    assert_eq!(events.len(), 6);
    assert!(
        events.iter().all(|e| e.status == CacheStatus::Hit),
        "{events:?}"
    );
    assert_eq!(
        events[0].to_string(),
        format!("scan {} image: cache hit", IDS[0])
    );
    let s = second.stats();
    assert_eq!((s.cache.hits, s.cache.built, s.cache.rebuilt), (6, 0, 0));
    // Asked again: served from memory, no disk lookup, no event.
    second.image(IDS[2]).unwrap();
    assert_eq!(second.stats().memory_hits, 1);
    assert_eq!(second.stats().cache.hits, 6);
    assert!(second.drain_events().is_empty());

    // A scan rewritten since (its data file only): its entries are rebuilt from the new data.
    let raw = ds.image_path(IDS[2]).unwrap().with_extension("raw");
    let mut bytes = std::fs::read(&raw).unwrap();
    bytes.reverse();
    std::fs::write(&raw, &bytes).unwrap();
    // Same size: the modification time tells (set apart from the first write's, whatever the
    // file system's clock resolution).
    let later =
        std::fs::metadata(&raw).unwrap().modified().unwrap() + std::time::Duration::from_secs(2);
    std::fs::File::options()
        .write(true)
        .open(&raw)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let third = PreparedSource::new(ds.clone(), t.cache(), GRID).unwrap();
    assert_eq!(*third.image(IDS[0]).unwrap(), expected[0].0);
    let image = third.image(IDS[2]).unwrap();
    assert_eq!(*image, direct(&ds, IDS[2]).0);
    assert_ne!(*image, expected[2].0);
    third.mask(IDS[2]).unwrap();
    let events = third.drain_events();
    let shown: Vec<String> = events.iter().map(ToString::to_string).collect();
    assert_eq!(events[0].status, CacheStatus::Hit, "{shown:?}");
    for e in &shown[1..] {
        assert!(e.contains("files changed since it was built"), "{shown:?}");
    }
    // Another grid is another cache entry: it builds.
    let other = PreparedSource::new(second.dataset().clone(), t.cache(), [4, 4, 4]).unwrap();
    other.image(IDS[0]).unwrap();
    assert_eq!(other.drain_events()[0].status, CacheStatus::Built);
}

#[test]
fn the_loader_yields_batches_of_prepared_volumes_with_their_own_masks() {
    let t = TempDir::new("source-loader");
    let ds = write_dataset(&t.0, 3);
    let src = Arc::new(PreparedSource::new(ds.clone(), t.cache(), GRID).unwrap());
    let ids: Vec<String> = IDS.iter().map(|s| s.to_string()).collect();
    let mut g = PairGenerator::new(GenKind::LunaSeg, ids, None, 2, 11).unwrap();
    let plan: Vec<_> = (0..5).map(|_| g.next_batch()).collect();
    let mut loader =
        Loader::spawn(plan.clone(), GenKind::LunaSeg, false, src.clone(), 2, 2).unwrap();
    let expected: HashMap<&str, (Vec<f32>, Vec<f32>)> =
        IDS.iter().map(|&id| (id, direct(&ds, id))).collect();
    let n: usize = GRID.iter().product();
    for pairs in &plan {
        let b = loader.next_batch().unwrap().unwrap();
        assert_eq!(&b.pairs, pairs);
        assert_eq!(b.src.dims(), [2, GRID[0], GRID[1], GRID[2], 1]);
        let (src_img, tgt_img) = (b.src.to_vec().unwrap(), b.tgt.to_vec().unwrap());
        let src_mask = b.src_mask.as_ref().unwrap().to_vec().unwrap();
        let tgt_mask = b.tgt_mask.as_ref().unwrap().to_vec().unwrap();
        for (i, p) in pairs.iter().enumerate() {
            let at = i * n..(i + 1) * n;
            let (s, t) = (&expected[p.src.as_str()], &expected[p.tgt.as_str()]);
            assert_eq!(src_img[at.clone()], s.0[..], "{}", p.label());
            assert_eq!(tgt_img[at.clone()], t.0[..], "{}", p.label());
            assert_eq!(src_mask[at.clone()], s.1[..], "{}", p.label());
            assert_eq!(tgt_mask[at], t.1[..], "{}", p.label());
        }
    }
    assert!(loader.next_batch().is_none());
    // Each of the 6 volumes was built into the disk cache. The two workers may ask for the same
    // scan at once: then one builds it and the other finds the finished entry (a hit) or builds
    // it too; nothing else can happen on a fresh cache.
    let events = src.drain_events();
    assert!(
        events
            .iter()
            .all(|e| matches!(e.status, CacheStatus::Built | CacheStatus::Hit)),
        "{events:?}"
    );
    let built: std::collections::HashSet<_> = events
        .iter()
        .filter(|e| e.status == CacheStatus::Built)
        .map(|e| (e.id.clone(), format!("{:?}", e.kind)))
        .collect();
    assert_eq!(built.len(), 6, "{events:?}");
}
