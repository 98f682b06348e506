//! Data-loading benchmarks.
//!
//! (a) Decoding: one CT-like int16 volume (160×160×90, smooth anatomy-like structure plus
//! noise, so it compresses like a real scan) written as `.mhd/.raw`, `.mhd/.zraw` and
//! `.nii.gz`, read with `read_volume` on a one-thread rayon pool; for reference, the bare
//! zlib / gzip inflate of the same payloads into a preallocated buffer (the decoder's ceiling).
//! (b) Preparing and loading: `PreparedSource` volumes/s with a cold disk cache (read, pipeline
//! and cache write) and a warm one (cache file read), and `Loader` batches/s with 2 workers at
//! grid 64³, from disk-cache hits and from memory.
//!
//! Criterion times each case; a table at the end prints the best and the median of a few more
//! calls as MB/s of decompressed data (int16 bytes) per core, and volumes/s or batches/s.

use criterion::{Criterion, Throughput};
use flate2::{Decompress, FlushDecompress};
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use voxflow::Rng;
use voxflow::data::Volume;
use voxflow::data::generators::{GenKind, PairGenerator, VolumeSource};
use voxflow::data::io::metaimage::{self, ElementType};
use voxflow::data::io::{nifti, read_volume};
use voxflow::data::loader::Loader;
use voxflow::data::luna::{LunaDataset, MASK_DIR};
use voxflow::data::source::PreparedSource;

/// Array dims `[D, H, W]` of the benchmark scans (x = y = 160, z = 90).
const DIMS: [usize; 3] = [90, 160, 160];
/// The network grid of the preparing and loading cases.
const GRID: [usize; 3] = [64, 64, 64];
/// Scans in the benchmark dataset.
const SCANS: usize = 4;
/// Batches per loader run.
const BATCHES: usize = 16;

/// A named timed case of the summary table.
type Case<'a> = (&'static str, Box<dyn Fn() + 'a>);
/// A named case timed by itself (untimed setup inside), with its number of runs.
type SelfTimed<'a> = (&'static str, usize, Box<dyn Fn() -> Duration + 'a>);

/// A chest-CT-like scan in HU and its lung mask (3 right, 4 left): air outside a body ellipse,
/// soft tissue with slow variation, a bony ring, two lungs with vessel-like texture, and
/// Gaussian noise of 12 HU; 0.7×0.7×2.5 mm voxels.
fn ct_scan(seed: u64) -> (Volume, Volume) {
    let mut rng = Rng::new(seed);
    let [d, h, w] = DIMS;
    let ph: Vec<f64> = (0..4)
        .map(|_| rng.uniform() * std::f64::consts::TAU)
        .collect();
    let (mut img, mut mask) = (Vec::with_capacity(d * h * w), Vec::with_capacity(d * h * w));
    for z in 0..d {
        let zf = z as f64 / d as f64;
        let breath = 1.0 + 0.08 * (std::f64::consts::PI * zf).sin();
        for y in 0..h {
            let v = (y as f64 / h as f64 - 0.5) * 2.0;
            for x in 0..w {
                let u = (x as f64 / w as f64 - 0.5) * 2.0;
                let r = (u / 0.9).powi(2) + (v / 0.7).powi(2);
                let lung_r = ((u.abs() - 0.42) / (0.3 * breath)).powi(2) + (v / 0.5).powi(2);
                let (hu, label) = if r > 1.0 {
                    (-1000.0, 0.0)
                } else if r > 0.85 {
                    (450.0 + 200.0 * (8.0 * u + ph[0]).sin(), 0.0)
                } else if lung_r < 1.0 {
                    let vessels = (11.0 * u + ph[1]).sin()
                        * (9.0 * v + ph[2]).sin()
                        * (6.0 * zf + ph[3]).cos();
                    let hu = -860.0 + 120.0 * vessels.max(0.0).powi(3);
                    (hu, if u < 0.0 { 3.0 } else { 4.0 })
                } else {
                    (40.0 + 25.0 * (3.0 * u + 2.0 * v + ph[0]).sin(), 0.0)
                };
                img.push((hu + 12.0 * rng.normal()).round() as f32);
                mask.push(label);
            }
        }
    }
    let p = Path::new("bench");
    let mut image = Volume::new(img, DIMS, p).expect("dims");
    image.spacing = [0.7, 0.7, 2.5];
    image.origin = [-56.0, -56.0, -300.0];
    let mut label = Volume::new(mask, DIMS, p).expect("dims");
    label.spacing = image.spacing;
    label.origin = image.origin;
    (image, label)
}

/// Best and median seconds of `n` calls of `f` (the best is the one to compare on a shared,
/// busy machine; the median shows the contention).
fn best_median(n: usize, mut f: impl FnMut() -> Duration) -> (f64, f64) {
    let mut t: Vec<f64> = (0..n).map(|_| f().as_secs_f64()).collect();
    t.sort_by(f64::total_cmp);
    (t[0], t[t.len() / 2])
}

fn timed(f: impl FnOnce()) -> Duration {
    let s = Instant::now();
    f();
    s.elapsed()
}

/// Inflates a zlib (`zlib = true`) or raw-deflate stream into exactly `out.len()` bytes.
fn inflate_into(packed: &[u8], out: &mut [u8], zlib: bool) {
    let mut z = Decompress::new(zlib);
    z.decompress(packed, out, FlushDecompress::Finish)
        .expect("valid stream");
    assert_eq!(z.total_out() as usize, out.len());
}

/// The benchmark files: one scan in three formats, and a LUNA16-layout dataset.
struct Files {
    root: PathBuf,
    raw: PathBuf,
    zraw: PathBuf,
    niigz: PathBuf,
    dataset: PathBuf,
}

fn write_files() -> Files {
    let root = std::env::temp_dir().join(format!("voxflow-bench-loader-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dataset = root.join("luna");
    for k in 0..SCANS {
        let (image, mask) = ct_scan(k as u64 + 1);
        let sub = dataset.join(format!("subset{}", k % 2));
        let masks = dataset.join(MASK_DIR);
        std::fs::create_dir_all(&sub).expect("mkdir");
        std::fs::create_dir_all(&masks).expect("mkdir");
        // As LUNA16 ships them: plain .raw scans, compressed masks.
        metaimage::write(
            &sub.join(format!("scan{k}.mhd")),
            &image,
            ElementType::I16,
            false,
        )
        .expect("write scan");
        metaimage::write(
            &masks.join(format!("scan{k}.mhd")),
            &mask,
            ElementType::U8,
            true,
        )
        .expect("write mask");
    }
    let (image, _) = ct_scan(1);
    let files = Files {
        raw: root.join("ct_raw.mhd"),
        zraw: root.join("ct_z.mhd"),
        niigz: root.join("ct.nii.gz"),
        dataset,
        root,
    };
    metaimage::write(&files.raw, &image, ElementType::I16, false).expect("write raw");
    metaimage::write(&files.zraw, &image, ElementType::I16, true).expect("write zraw");
    nifti::write(&files.niigz, &image, ElementType::I16).expect("write nii.gz");
    files
}

/// A fresh, empty cache directory.
fn fresh_cache(files: &Files) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = files
        .root
        .join(format!("cache-{}", N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn dataset(files: &Files) -> LunaDataset {
    LunaDataset::discover(&files.dataset).expect("dataset").0
}

/// One cold preparation (read + pipeline + cache write) of scan 0's image or mask; the
/// source construction and the cleanup are not timed.
fn cold(files: &Files, ds: &LunaDataset, mask: bool) -> Duration {
    let dir = fresh_cache(files);
    let src = PreparedSource::new(ds.clone(), dir.clone(), GRID).expect("source");
    let t = timed(|| {
        black_box(
            if mask {
                src.mask("scan0")
            } else {
                src.image("scan0")
            }
            .expect("prepare"),
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
    t
}

/// One warm preparation: a new source (empty memory) on a populated cache directory.
fn warm(ds: &LunaDataset, cache: &Path) -> Duration {
    let src = PreparedSource::new(ds.clone(), cache.to_path_buf(), GRID).expect("source");
    timed(|| {
        black_box(src.image("scan0").expect("cache hit"));
    })
}

/// The loader over `BATCHES` batches of one `luna` pair each, 2 workers, depth 4.
fn load(src: &Arc<PreparedSource>, plan: &[Vec<voxflow::data::generators::Pair>]) -> Duration {
    timed(|| {
        let mut l = Loader::spawn(plan.to_vec(), GenKind::Luna, false, src.clone(), 2, 4).unwrap();
        while let Some(b) = l.next_batch() {
            black_box(b.expect("batch"));
        }
    })
}

/// Everything the benchmarks read: the files, the dataset, warm caches and a loader plan.
struct Bench {
    files: Files,
    ds: LunaDataset,
    one: rayon::ThreadPool,
    zraw_payload: Vec<u8>,
    gz_file: Vec<u8>,
    warm_dir: PathBuf,
    memo: Arc<PreparedSource>,
    disk: Arc<PreparedSource>,
    plan: Vec<Vec<voxflow::data::generators::Pair>>,
}

const VOXELS: usize = DIMS[0] * DIMS[1] * DIMS[2];
const RAW_BYTES: usize = VOXELS * 2;
const NII_LEN: usize = RAW_BYTES + 352;

impl Bench {
    fn new() -> Bench {
        let files = write_files();
        let ds = dataset(&files);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool");
        let zraw_payload = std::fs::read(files.zraw.with_extension("zraw")).expect("zraw");
        let gz_file = std::fs::read(&files.niigz).expect("nii.gz");
        // A warm cache for the warm and loader cases.
        let warm_dir = fresh_cache(&files);
        let memo =
            Arc::new(PreparedSource::new(ds.clone(), warm_dir.clone(), GRID).expect("source"));
        for id in ds.ids() {
            memo.image(&id).expect("prepare");
        }
        let disk = Arc::new(
            PreparedSource::new(ds.clone(), warm_dir.clone(), GRID)
                .expect("source")
                .with_memory_limit(0),
        );
        let mut g = PairGenerator::new(GenKind::Luna, ds.ids(), None, 1, 7).expect("generator");
        let plan: Vec<_> = (0..BATCHES).map(|_| g.next_batch()).collect();
        Bench {
            files,
            ds,
            one,
            zraw_payload,
            gz_file,
            warm_dir,
            memo,
            disk,
            plan,
        }
    }

    fn read1(&self, p: &Path) {
        self.one
            .install(|| drop(black_box(read_volume(p).expect("read"))));
    }

    fn inflate_zlib(&self) {
        let mut out = vec![0u8; RAW_BYTES];
        self.one
            .install(|| inflate_into(&self.zraw_payload, &mut out, true));
        black_box(out);
    }

    fn inflate_gzip(&self) {
        let mut out = vec![0u8; NII_LEN];
        self.one.install(|| {
            let mut g = flate2::read::GzDecoder::new(&self.gz_file[..]);
            g.read_exact(&mut out).expect("gzip");
        });
        black_box(out);
    }
}

/// The criterion groups: decoding on one thread, preparing and loading.
fn criterion_groups(b: &Bench) {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut group = c.benchmark_group("decode_1thread");
    group.throughput(Throughput::Bytes(RAW_BYTES as u64));
    group.bench_function("read_mhd_raw", |i| i.iter(|| b.read1(&b.files.raw)));
    group.bench_function("read_mhd_zraw", |i| i.iter(|| b.read1(&b.files.zraw)));
    group.bench_function("read_nii_gz", |i| i.iter(|| b.read1(&b.files.niigz)));
    group.bench_function("inflate_zlib_only", |i| i.iter(|| b.inflate_zlib()));
    group.bench_function("inflate_gzip_only", |i| i.iter(|| b.inflate_gzip()));
    group.finish();
    let mut group = c.benchmark_group("prepare_64");
    group.throughput(Throughput::Elements(1));
    group.bench_function("cold_image", |i| {
        i.iter_custom(|n| (0..n).map(|_| cold(&b.files, &b.ds, false)).sum())
    });
    group.bench_function("warm_image", |i| {
        i.iter_custom(|n| (0..n).map(|_| warm(&b.ds, &b.warm_dir)).sum())
    });
    group.throughput(Throughput::Elements(BATCHES as u64));
    group.bench_function("loader_2w_disk", |i| {
        i.iter_custom(|n| (0..n).map(|_| load(&b.disk, &b.plan)).sum())
    });
    group.bench_function("loader_2w_memory", |i| {
        i.iter_custom(|n| (0..n).map(|_| load(&b.memo, &b.plan)).sum())
    });
    group.finish();
    c.final_summary();
}

/// The decoding table: best and median of 15 single-threaded reads of each format.
fn decode_table(b: &Bench) {
    let mb = |bytes: usize, s: f64| bytes as f64 / s / 1e6;
    let zlen = b.zraw_payload.len();
    println!(
        "\nvolume {}x{}x{} int16 = {:.2} MB decompressed; .zraw {:.2} MB (ratio {:.2}), .nii.gz \
         {:.2} MB (ratio {:.2})",
        DIMS[2],
        DIMS[1],
        DIMS[0],
        RAW_BYTES as f64 / 1e6,
        zlen as f64 / 1e6,
        RAW_BYTES as f64 / zlen as f64,
        b.gz_file.len() as f64 / 1e6,
        NII_LEN as f64 / b.gz_file.len() as f64
    );
    println!(
        "\ndecoding on one thread, best / median of 15     ms best   MB/s/core best / median  \
         Mvoxel/s best"
    );
    let decode: [Case; 5] = [
        ("read_volume .mhd/.raw", Box::new(|| b.read1(&b.files.raw))),
        (
            "read_volume .mhd/.zraw",
            Box::new(|| b.read1(&b.files.zraw)),
        ),
        ("read_volume .nii.gz", Box::new(|| b.read1(&b.files.niigz))),
        ("  zlib inflate only (.zraw)", Box::new(|| b.inflate_zlib())),
        (
            "  gzip inflate only (.nii.gz)",
            Box::new(|| b.inflate_gzip()),
        ),
    ];
    for (name, f) in &decode {
        let (best, med) = best_median(15, || timed(f));
        println!(
            "{name:<46} {:8.2}   {:6.0} / {:6.0}             {:8.1}",
            best * 1e3,
            mb(RAW_BYTES, best),
            mb(RAW_BYTES, med),
            VOXELS as f64 / best / 1e6
        );
    }
}

/// The preparation and loader tables.
fn prepare_tables(b: &Bench) {
    println!(
        "\npreparing at grid {}x{}x{} ({} rayon threads)       ms/volume best  \
         volumes/s best / median",
        GRID[0],
        GRID[1],
        GRID[2],
        rayon::current_num_threads()
    );
    let rows: [SelfTimed; 3] = [
        (
            "cold cache: image (read+pipeline+write)",
            7,
            Box::new(|| cold(&b.files, &b.ds, false)),
        ),
        (
            "cold cache: mask (reads image too)",
            7,
            Box::new(|| cold(&b.files, &b.ds, true)),
        ),
        (
            "warm cache: image (disk hit)",
            15,
            Box::new(|| warm(&b.ds, &b.warm_dir)),
        ),
    ];
    for (name, n, f) in &rows {
        let (best, med) = best_median(*n, f);
        println!(
            "{name:<48} {:10.2}  {:9.1} / {:7.1}",
            best * 1e3,
            1.0 / best,
            1.0 / med
        );
    }
    println!(
        "\nloader: 2 workers, {BATCHES} batches of 1 luna pair     ms/batch best  batches/s best / median"
    );
    let rows: [(&str, &Arc<PreparedSource>); 2] = [
        ("volumes from the disk cache", &b.disk),
        ("volumes from memory", &b.memo),
    ];
    for (name, src) in rows {
        let (best, med) = best_median(7, || load(src, &b.plan));
        let (best, med) = (best / BATCHES as f64, med / BATCHES as f64);
        println!(
            "{name:<48} {:10.2}  {:9.1} / {:7.1}",
            best * 1e3,
            1.0 / best,
            1.0 / med
        );
    }
}

fn main() {
    let b = Bench::new();
    criterion_groups(&b);
    decode_table(&b);
    prepare_tables(&b);
    let _ = std::fs::remove_dir_all(&b.files.root);
}
