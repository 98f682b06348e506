//! Cache hits, rebuilds of damaged or stale entries, and concurrent writers.

use super::*;
use crate::testutil::TempDir;
use std::cell::Cell;

/// A unique temporary directory, removed on drop.
const GRID: [usize; 3] = [2, 3, 4];

fn values(seed: f32) -> Vec<f32> {
    (0..24).map(|i| seed + i as f32 * 0.5 - 3.0).collect()
}

/// Fetches through a closure that records whether it ran.
fn fetch(cache: &Cache, seed: f32) -> (Vec<f32>, CacheStatus, bool) {
    let called = Cell::new(false);
    let (v, s) = cache
        .fetch("1.3.6.1/x", Kind::Image, GRID, 0, || {
            called.set(true);
            Ok(values(seed))
        })
        .unwrap();
    (v, s, called.get())
}

#[test]
fn builds_once_then_hits() {
    let t = TempDir::new("cache-hit");
    let cache = Cache::new(&t.0).unwrap();
    assert_eq!(fetch(&cache, 1.0), (values(1.0), CacheStatus::Built, true));
    // The second closure would give other values: a hit must not call it.
    assert_eq!(fetch(&cache, 2.0), (values(1.0), CacheStatus::Hit, false));
    let path = cache.entry_path("1.3.6.1/x", Kind::Image, GRID);
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        format!("1.3.6.1%2Fx.image.2x3x4.v{PREPROCESS_VERSION}.vxc")
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 52 + 4 * 24);
    // Mask and image entries and other grids are separate.
    let m = cache
        .get_or_build("1.3.6.1/x", Kind::Mask, GRID, 0, || Ok(vec![1.0; 24]))
        .unwrap();
    assert_eq!(m, vec![1.0; 24]);
    let g = cache
        .get_or_build("1.3.6.1/x", Kind::Image, [4, 3, 2], 0, || Ok(vec![7.0; 24]))
        .unwrap();
    assert_eq!(g, vec![7.0; 24]);
    // A new Cache on the same directory (a new run) hits too.
    let again = Cache::new(&t.0).unwrap();
    assert_eq!(fetch(&again, 3.0).1, CacheStatus::Hit);
    let s = cache.stats();
    assert_eq!((s.hits, s.built, s.rebuilt), (1, 3, 0));
    // An id too long for a file name once escaped (120 'é', 240 bytes): a short hashed name,
    // distinct for ids that share the first characters, and usable.
    let long = "é".repeat(120);
    let longer = format!("{long}x");
    let name = |id: &str| {
        let p = cache.entry_path(id, Kind::Image, GRID);
        p.file_name().unwrap().to_str().unwrap().to_string()
    };
    assert!(name(&long).len() < 140, "{}", name(&long));
    assert_ne!(name(&long), name(&longer));
    assert!(name(&long).starts_with("%C3%A9") && name(&long).contains('~'));
    let got = cache
        .get_or_build(&long, Kind::Image, GRID, 0, || Ok(values(5.0)))
        .unwrap();
    assert_eq!(got, values(5.0));
}

/// Damages the entry with `damage`, then checks it is rebuilt (with a reason containing
/// `why`), rewritten, and served from the cache afterwards.
fn assert_rebuilt(damage: impl FnOnce(&mut Vec<u8>), why: &str) {
    let t = TempDir::new("cache-damage");
    let cache = Cache::new(&t.0).unwrap();
    fetch(&cache, 1.0);
    let path = cache.entry_path("1.3.6.1/x", Kind::Image, GRID);
    let mut bytes = std::fs::read(&path).unwrap();
    damage(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    let (v, status, called) = fetch(&cache, 5.0);
    assert!(called, "{why}: the damaged entry was trusted");
    assert_eq!(v, values(5.0));
    match &status {
        CacheStatus::Rebuilt { path: p, reason } => {
            assert_eq!(p, &path);
            assert!(reason.contains(why), "{why}: {reason}");
        }
        other => panic!("{why}: {other:?}"),
    }
    assert!(status.to_string().starts_with("rebuilt cache entry"));
    assert_eq!(cache.stats().rebuilt, 1);
    assert_eq!(fetch(&cache, 9.0), (values(5.0), CacheStatus::Hit, false));
}

#[test]
fn a_flipped_payload_byte_is_rebuilt() {
    assert_rebuilt(|b| b[HEADER_LEN + 13] ^= 0x40, "CRC-32C");
}

#[test]
fn a_nan_value_with_a_matching_checksum_is_rebuilt() {
    assert_rebuilt(
        |b| {
            b[HEADER_LEN + 8..HEADER_LEN + 12].copy_from_slice(&f32::NAN.to_le_bytes());
            let crc = crc32c::crc32c(&b[HEADER_LEN..]);
            b[48..52].copy_from_slice(&crc.to_le_bytes());
        },
        "value 2 is NaN",
    );
}

#[test]
fn a_truncated_or_extended_entry_is_rebuilt() {
    assert_rebuilt(|b| b.truncate(b.len() - 1), "bytes, expected");
    assert_rebuilt(|b| b.truncate(10), "bytes, expected");
    assert_rebuilt(|b| b.clear(), "0 bytes");
    assert_rebuilt(|b| b.push(0), "bytes, expected");
}

#[test]
fn wrong_magic_version_kind_or_dims_are_rebuilt() {
    assert_rebuilt(|b| b[0] = b'X', "magic");
    assert_rebuilt(|b| b[8] ^= 1, "format version");
    assert_rebuilt(|b| b[12] = b[12].wrapping_add(1), "preprocessing version");
    assert_rebuilt(|b| b[16] = 1, "kind");
    // Same value count, other dims: [3, 2, 4].
    assert_rebuilt(
        |b| {
            b[20] = 3;
            b[24] = 2;
        },
        "grid D 3",
    );
    assert_rebuilt(|b| b[32] = 25, "value count 25");
}

#[test]
fn bad_builds_and_grids_are_errors() {
    let t = TempDir::new("cache-bad");
    let cache = Cache::new(&t.0).unwrap();
    let e = cache
        .get_or_build("a", Kind::Mask, GRID, 0, || Ok(vec![0.0; 23]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("got 23 values, expected 24"), "{e}");
    assert!(!cache.entry_path("a", Kind::Mask, GRID).exists());
    let e = cache
        .get_or_build("a", Kind::Mask, GRID, 0, || {
            Err(DataError::Dataset("scan a: unreadable".into()))
        })
        .unwrap_err();
    assert!(e.to_string().contains("scan a: unreadable"));
    let e = cache
        .get_or_build("a", Kind::Image, [0, 4, 4], 0, || Ok(vec![]))
        .unwrap_err();
    assert!(e.to_string().contains("invalid grid [0, 4, 4]"), "{e}");
    assert!(
        cache
            .get_or_build("a", Kind::Image, [1 << 20, 1 << 20, 1], 0, || Ok(vec![]))
            .is_err()
    );
}

#[test]
fn a_file_in_the_caches_place_is_named_as_such() {
    let t = TempDir::new("cache-file");
    let place = t.0.join("cache");
    std::fs::write(&place, b"mine").unwrap();
    let Err(e) = Cache::new(&place) else {
        panic!("a file taken for the cache");
    };
    let e = e.to_string();
    assert!(
        e.contains("cache") && e.contains("not a directory") && e.contains("VOXFLOW_CACHE"),
        "{e}"
    );
    assert_eq!(std::fs::read(&place).unwrap(), b"mine");
}

#[test]
fn concurrent_builders_of_one_entry_leave_a_valid_file() {
    let t = TempDir::new("cache-race");
    let cache = Cache::new(&t.0).unwrap();
    let grid = [16, 32, 32];
    let n = 16 * 32 * 32;
    // Each worker builds different values, so a file mixing two writes would be noticed.
    let make = |k: usize| -> Vec<f32> { (0..n).map(|i| (i % 97 + 1000 * k) as f32).collect() };
    for round in 0..5 {
        let id = format!("scan{round}");
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|k| {
                    let (cache, id) = (&cache, &id);
                    s.spawn(move || {
                        cache
                            .get_or_build(id, Kind::Image, grid, 0, || Ok(make(k)))
                            .unwrap()
                    })
                })
                .collect();
            for w in workers {
                assert_eq!(w.join().unwrap().len(), n);
            }
        });
        let again = cache
            .fetch(&id, Kind::Image, grid, 0, || {
                panic!("entry {id} was not written whole")
            })
            .unwrap();
        assert_eq!(again.1, CacheStatus::Hit);
        assert!(
            (0..4).any(|k| again.0 == make(k)),
            "entry {id} mixes writers"
        );
    }
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(&t.0).unwrap().collect();
    assert_eq!(names.len(), 5);
}

#[test]
fn a_cache_that_cannot_be_written_points_to_voxflow_cache() {
    let p = Path::new("/data/LUNA16/.voxflow-cache");
    let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
    let e = super::cache_io(p, denied).to_string();
    assert!(
        e.contains("/data/LUNA16/.voxflow-cache") && e.contains("set VOXFLOW_CACHE"),
        "{e}"
    );
    let other = std::io::Error::from(std::io::ErrorKind::StorageFull);
    let e = super::cache_io(p, other).to_string();
    assert!(!e.contains("VOXFLOW_CACHE"), "{e}");
}
