//! PreparedSource errors (unknown ids, missing masks, bad files, bad grids), damaged cache
//! entries, the memory budget, concurrent first requests and the default cache directory.

use super::*;

fn statuses(events: &[CacheEvent]) -> Vec<(&str, Kind, &CacheStatus)> {
    events
        .iter()
        .map(|e| (e.id.as_str(), e.kind, &e.status))
        .collect()
}

#[test]
fn unknown_ids_missing_masks_and_bad_files_are_errors_naming_them() {
    let t = TempDir::new("errors");
    let ds = write_dataset(&t.0, 1);
    let src = PreparedSource::new(ds, t.cache(), GRID).unwrap();
    for e in [src.image("9.9.9"), src.mask("9.9.9")] {
        let e = e.unwrap_err().to_string();
        assert!(e.contains("unknown scan id 9.9.9"), "{e}");
        assert!(e.contains(&t.0.display().to_string()), "{e}");
    }
    let e = src.mask(IDS[2]).unwrap_err().to_string();
    assert!(e.contains(IDS[2]) && e.contains("no lung mask"), "{e}");
    assert!(e.contains(&t.0.join(MASK_DIR).display().to_string()), "{e}");
    // A truncated data file: the reader's error names it; nothing is cached or memoized.
    let raw = t.0.join(format!("subset0/{}.raw", IDS[2]));
    let bytes = std::fs::read(&raw).unwrap();
    std::fs::write(&raw, &bytes[..bytes.len() - 3]).unwrap();
    let e = src.image(IDS[2]).unwrap_err().to_string();
    assert!(
        e.contains(&raw.display().to_string()) && e.contains("truncated"),
        "{e}"
    );
    assert!(src.drain_events().is_empty());
    std::fs::write(&raw, &bytes).unwrap();
    assert!(src.image(IDS[2]).is_ok(), "repaired file is read");
    // A mask on another grid than its image is refused, naming both files.
    let (_, mut wrong) = scan(1);
    wrong.spacing = scan(0).0.spacing;
    let mask_file = t.0.join(MASK_DIR).join(format!("{}.mhd", IDS[0]));
    metaimage::write(&mask_file, &wrong, ElementType::U8, false).unwrap();
    let e = src.mask(IDS[0]).unwrap_err().to_string();
    assert!(
        e.contains(&mask_file.display().to_string()) && e.contains("not on one grid"),
        "{e}"
    );
    // Invalid grids.
    for grid in [[0, 4, 4], [1 << 11, 1 << 11, 1 << 11]] {
        let ds = src.dataset().clone();
        let e = PreparedSource::new(ds, t.cache(), grid).err().unwrap();
        assert!(e.to_string().contains("invalid network grid"), "{e}");
    }
}

#[test]
fn a_damaged_cache_entry_is_rebuilt_and_reported() {
    let t = TempDir::new("damaged");
    let ds = write_dataset(&t.0, 1);
    let first = PreparedSource::new(ds.clone(), t.cache(), GRID).unwrap();
    let good = first.image(IDS[0]).unwrap();
    let entry = Cache::new(&t.cache())
        .unwrap()
        .entry_path(IDS[0], Kind::Image, GRID);
    let mut bytes = std::fs::read(&entry).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    std::fs::write(&entry, &bytes).unwrap();
    let second = PreparedSource::new(ds, t.cache(), GRID).unwrap();
    assert_eq!(second.image(IDS[0]).unwrap(), good);
    let events = second.drain_events();
    assert_eq!(events.len(), 1);
    assert!(
        matches!(&events[0].status, CacheStatus::Rebuilt { path, .. } if *path == entry),
        "{events:?}"
    );
    let line = events[0].to_string();
    assert!(
        line.starts_with(&format!(
            "scan {} image: rebuilt cache entry {}",
            IDS[0],
            entry.display()
        )),
        "{line}"
    );
    assert_eq!(second.stats().cache.rebuilt, 1);
}

#[test]
fn without_memory_budget_every_request_reads_the_disk_cache() {
    let t = TempDir::new("nomemo");
    let ds = write_dataset(&t.0, 1);
    let src = PreparedSource::new(ds, t.cache(), GRID)
        .unwrap()
        .with_memory_limit(0);
    let a = src.image(IDS[0]).unwrap();
    let b = src.image(IDS[0]).unwrap();
    assert_eq!(a, b);
    let events = src.drain_events();
    assert_eq!(
        statuses(&events),
        vec![
            (IDS[0], Kind::Image, &CacheStatus::Built),
            (IDS[0], Kind::Image, &CacheStatus::Hit)
        ]
    );
    assert_eq!(src.stats().memory_hits, 0);
}

#[test]
fn concurrent_first_requests_agree() {
    let t = TempDir::new("race");
    let ds = write_dataset(&t.0, 3);
    let src = Arc::new(PreparedSource::new(ds.clone(), t.cache(), GRID).unwrap());
    let got: Vec<Vec<Arc<Vec<f32>>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let src = src.clone();
                s.spawn(move || {
                    IDS.iter()
                        .flat_map(|id| [src.image(id).unwrap(), src.mask(id).unwrap()])
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let expected: Vec<Vec<f32>> = IDS
        .iter()
        .flat_map(|id| {
            let (i, m) = direct(&ds, id);
            [i, m]
        })
        .collect();
    for thread in &got {
        let values: Vec<Vec<f32>> = thread.iter().map(|v| v.to_vec()).collect();
        assert_eq!(values, expected);
    }
    // After the race, one copy per volume is kept and served.
    for (k, id) in IDS.iter().enumerate() {
        let again = src.image(id).unwrap();
        assert!(got.iter().all(|t| *t[2 * k] == *again));
    }
}

#[test]
fn the_default_cache_dir_is_hidden_under_the_data_root() {
    assert_eq!(
        default_cache_dir(Path::new("/data/luna16")),
        PathBuf::from("/data/luna16/.voxflow-cache")
    );
    // VOXFLOW_CACHE (a read-only dataset): one folder per dataset under it; empty means unset.
    let under =
        |data: &str, root: Option<&str>| cache_dir_under(Path::new(data), root.map(PathBuf::from));
    let a = under("/data/luna16", Some("/scratch/cache"));
    assert_eq!(a.parent(), Some(Path::new("/scratch/cache")));
    assert_ne!(a, under("/data/other", Some("/scratch/cache")));
    assert_eq!(a, under("/data/luna16", Some("/scratch/cache")));
    assert_eq!(
        under("/data/luna16", Some("")),
        PathBuf::from("/data/luna16/.voxflow-cache")
    );
}
