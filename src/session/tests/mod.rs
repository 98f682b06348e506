//! Tests of session creation (here) and checkpoints (`checkpoint.rs`); paths, ids, split and
//! history test themselves.

mod checkpoint;

use super::*;
use crate::data::generators::GenKind;
use crate::models::BuilderConfig;
use crate::session::config::{BuilderKind, TrainConfig};
use crate::testutil::TempDir;
use std::path::Path;

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const BUILDER: &str = "format_version = 1\nkind = \"unet\"\n# encoder\nenc_nf = [16, 32]\n";

fn unet() -> BuilderConfig {
    BuilderConfig::defaults(BuilderKind::Unet)
}

fn marianet() -> BuilderConfig {
    BuilderConfig::defaults(BuilderKind::MariaNet)
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("1.3.6.{i:02}")).collect()
}

/// The default split of `n` ids.
fn split(n: usize) -> Split {
    split_ids(&ids(n), SplitFractions::default(), 1).unwrap()
}

#[test]
fn create_writes_everything_and_open_finds_it() {
    let tmp = TempDir::new("create");
    let root = tmp.0.clone();
    let cfg = TrainConfig::defaults(BuilderKind::Unet, GenKind::Luna);
    let all = ids(10);
    let p = create_session(
        &root,
        "run",
        &unet(),
        &cfg,
        &split_ids(&all, SplitFractions::default(), 777).unwrap(),
        false,
    )
    .unwrap()
    .0;
    assert_eq!(p.dir(), root.join("run"));
    assert_eq!(
        files_in(p.dir()),
        [
            "builder.toml",
            "checkpoints",
            "config.toml",
            "observations",
            "scores",
            "tensorboard",
            "test_ids.csv",
            "train.lock",
            "train_ids.csv",
            "val_ids.csv"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(p.builder()).unwrap(),
        unet().to_toml()
    );
    assert_eq!(TrainConfig::load(&p.config()).unwrap(), cfg);
    let split = split_ids(&all, SplitFractions::default(), 777).unwrap();
    assert_eq!(read_ids(&p.ids(IdSet::Train)).unwrap(), split.train);
    assert_eq!(read_ids(&p.ids(IdSet::Val)).unwrap(), split.val);
    assert_eq!(read_ids(&p.ids(IdSet::Test)).unwrap(), split.test);
    assert_eq!(open_session(&root, "run").unwrap(), p);

    std::fs::remove_file(p.config()).unwrap();
    std::fs::remove_file(p.ids(IdSet::Val)).unwrap();
    let e = open_session(&root, "run").unwrap_err().to_string();
    assert!(
        e.contains("config.toml") && e.contains("val_ids.csv") && !e.contains("builder.toml"),
        "{e}"
    );
    let e = open_session(&root, "nope").unwrap_err().to_string();
    assert!(e.contains("nope"), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn create_refuses_an_existing_session_and_force_moves_the_earlier_run_aside() {
    let tmp = TempDir::new("force");
    let root = tmp.0.clone();
    let cfg = TrainConfig::defaults(BuilderKind::Unet, GenKind::Luna);
    let (p, moved) = create_session(&root, "run", &unet(), &cfg, &split(6), false).unwrap();
    assert_eq!(moved, None);
    let chk = p.checkpoint_path(3);
    std::fs::write(&chk, b"weights").unwrap();
    std::fs::write(p.logs(), b"log line\n").unwrap();
    std::fs::write(p.history(), b"{}").unwrap();

    let mut cfg2 = cfg.clone();
    cfg2.epochs = 5;
    let e = create_session(&root, "run", &marianet(), &cfg2, &split(8), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("already exists") && e.contains("--force"), "{e}");
    assert_eq!(
        std::fs::read_to_string(p.builder()).unwrap(),
        unet().to_toml(),
        "untouched"
    );
    assert_eq!(TrainConfig::load(&p.config()).unwrap().epochs, 200);

    let (_, moved) = create_session(&root, "run", &marianet(), &cfg2, &split(8), true).unwrap();
    let aside = root.join("run/previous_1");
    assert_eq!(moved.as_deref(), Some(aside.as_path()));
    assert_eq!(
        std::fs::read_to_string(p.builder()).unwrap(),
        marianet().to_toml()
    );
    assert_eq!(TrainConfig::load(&p.config()).unwrap().epochs, 5);
    let n: usize = IdSet::ALL
        .iter()
        .map(|s| read_ids(&p.ids(*s)).unwrap().len())
        .sum();
    assert_eq!(n, 8);
    // The earlier configuration copied aside as it was, the run moved aside whole, the log
    // stayed; the session starts clean.
    assert_eq!(
        std::fs::read_to_string(aside.join("builder.toml")).unwrap(),
        unet().to_toml()
    );
    assert_eq!(
        TrainConfig::load(&aside.join("config.toml"))
            .unwrap()
            .epochs,
        200
    );
    let n: usize = IdSet::ALL
        .iter()
        .map(|s| {
            read_ids(&aside.join(p.ids(*s).file_name().unwrap()))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(n, 6);
    let chk_aside = aside.join("checkpoints").join(chk.file_name().unwrap());
    assert_eq!(std::fs::read(&chk_aside).unwrap(), b"weights");
    assert_eq!(
        std::fs::read(aside.join("training_history.json")).unwrap(),
        b"{}"
    );
    assert_eq!(std::fs::read(p.logs()).unwrap(), b"log line\n");
    assert!(!p.history().exists());
    assert_eq!(latest_checkpoint(&p).unwrap(), None);
    assert!(p.checkpoints_dir().is_dir());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_failed_forced_rewrite_puts_the_earlier_run_back() {
    let tmp = TempDir::new("force-undo");
    let root = tmp.0.clone();
    let cfg = TrainConfig::defaults(BuilderKind::Unet, GenKind::Luna);
    let (p, _) = create_session(&root, "run", &unet(), &cfg, &split(6), false).unwrap();
    let chk = p.checkpoint_path(2);
    std::fs::write(&chk, b"weights").unwrap();
    std::fs::write(p.history(), b"{}").unwrap();
    // An id list that cannot be written (a directory in its place) fails the rewrite.
    let list = p.ids(IdSet::Test);
    std::fs::remove_file(&list).unwrap();
    std::fs::create_dir(&list).unwrap();
    let (builder_before, config_before) = (
        std::fs::read(p.builder()).unwrap(),
        std::fs::read(p.config()).unwrap(),
    );
    let mut other = cfg.clone();
    other.epochs = 7;
    assert!(create_session(&root, "run", &marianet(), &other, &split(6), true).is_err());
    assert_eq!(std::fs::read(&chk).unwrap(), b"weights");
    // builder.toml and config.toml were rewritten before the id list failed: back as they were.
    assert_eq!(std::fs::read(p.builder()).unwrap(), builder_before);
    assert_eq!(std::fs::read(p.config()).unwrap(), config_before);
    // A run holding the session: --force is refused before anything moves.
    std::fs::remove_dir(&list).unwrap();
    let lock = lock::SessionLock::acquire(&p, "train").unwrap();
    let e = create_session(&root, "run", &unet(), &cfg, &split(6), true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("is being changed by `train`"), "{e}");
    assert_eq!(std::fs::read(&chk).unwrap(), b"weights");
    drop(lock);
    assert_eq!(std::fs::read(p.history()).unwrap(), b"{}");
    assert!(!root.join("run/previous_1").exists());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn create_checks_everything_before_writing() {
    let tmp = TempDir::new("checks");
    let root = tmp.0.clone();
    let good = TrainConfig::defaults(BuilderKind::Unet, GenKind::Luna);
    let atlas = TrainConfig::defaults(BuilderKind::Unet, GenKind::Atlas); // no atlas_id
    let e = create_session(&root, "a", &unet(), &atlas, &split(5), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("config.toml") && e.contains("atlas_id"), "{e}");
    let mut bad = unet();
    bad.unet.enc_nf = vec![16, 0];
    let e = create_session(&root, "b", &bad, &good, &split(5), false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("builder.toml") && e.contains("unet.enc_nf"),
        "{e}"
    );
    assert!(create_session(&root, "../d", &unet(), &good, &split(5), false).is_err());
    assert!(
        files_in(&root).is_empty(),
        "nothing written: {:?}",
        files_in(&root)
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn latest_checkpoint_takes_the_highest_canonical_name() {
    let tmp = TempDir::new("latest");
    let root = tmp.0.clone();
    let p = SessionPaths::new(&root, "s").unwrap();
    assert_eq!(
        latest_checkpoint(&p).unwrap(),
        None,
        "no checkpoints folder yet"
    );
    p.ensure_dirs().unwrap();
    assert_eq!(latest_checkpoint(&p).unwrap(), None);
    for name in [
        "chkpt_02.safetensors",
        "chkpt_10.safetensors",
        "chkpt_9.safetensors",
        ".chkpt_11.safetensors.tmp1",
        "chkpt_12.h5",
    ] {
        std::fs::write(p.checkpoints_dir().join(name), b"x").unwrap();
    }
    // A directory of a checkpoint's name is not a checkpoint.
    std::fs::create_dir(p.checkpoint_path(13)).unwrap();
    assert_eq!(
        latest_checkpoint(&p).unwrap(),
        Some((10, p.checkpoint_path(10)))
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn errors_a_caller_may_handle_are_variants_to_match() {
    let tmp = TempDir::new("variants");
    let root = tmp.0.clone();
    let cfg = TrainConfig::defaults(BuilderKind::Unet, GenKind::Luna);
    let (p, _) = create_session(&root, "run", &unet(), &cfg, &split(6), false).unwrap();
    match create_session(&root, "run", &unet(), &cfg, &split(6), false) {
        Err(SessionError::Exists { dir }) => assert_eq!(dir, root.join("run")),
        other => panic!("expected Exists, got {other:?}"),
    }
    match open_session(&root, "nope") {
        Err(SessionError::NotFound { name, dir }) => {
            assert_eq!((name.as_str(), dir), ("nope", root.join("nope")))
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    match open_session(&root, ".hidden") {
        Err(SessionError::InvalidName { name, why }) => {
            assert_eq!((name.as_str(), why), (".hidden", "it starts with a dot"))
        }
        other => panic!("expected InvalidName, got {other:?}"),
    }
    let _held = lock::SessionLock::acquire(&p, "train").unwrap();
    match lock::SessionLock::acquire(&p, "eval") {
        Err(SessionError::Busy { session, lock, .. }) => {
            assert_eq!((session.as_str(), lock), ("run", p.lock()))
        }
        other => panic!("expected Busy, got {other:?}"),
    }
}
