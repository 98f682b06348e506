//! A checkpoint written by an earlier build of voxflow (committed under
//! `tests/fixtures/checkpoint_v1/`, with the session files it was trained in) resumes in this
//! build and ends bitwise where that earlier build ended: a refactoring that changes the
//! checkpoint format, the network's numerics or the data stream fails here.
//!
//! The fixture was made by the ignored test below, with the build of commit 50d0714:
//! `cargo test --test checkpoint_fixture -- --ignored write_checkpoint_fixture`. Regenerate it
//! only for a deliberate change of results, and say so in the commit.

mod common;

use common::{TempDir, assert_same_checkpoints};
use std::path::{Path, PathBuf};
use voxflow::data::generators::GenKind;
use voxflow::data::phantom::{PhantomConfig, write_dataset};
use voxflow::models::{BuilderConfig, BuilderKind};
use voxflow::session::SplitFractions;
use voxflow::session::config::TrainConfig;
use voxflow::session::log::Logger;
use voxflow::session::{NewSession, Overrides, new_session};
use voxflow::train::{TrainOptions, train};

const NAME: &str = "fixture";
/// The files a resume needs; the rest of the session is made by the run.
const SESSION_FILES: [&str; 5] = [
    "builder.toml",
    "config.toml",
    "train_ids.csv",
    "val_ids.csv",
    "test_ids.csv",
];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checkpoint_v1")
}

fn temp(tag: &str) -> PathBuf {
    TempDir::absent(&format!("ckfx-{tag}")).keep()
}

/// The phantom scans the fixture was trained on (small: 6 subjects at 0.3 of the full grid).
fn phantom(dir: &Path) {
    let cfg = PhantomConfig {
        n: 6,
        seed: 3,
        subsets: 2,
        grid_scale: 0.3,
        phases: 1,
    };
    write_dataset(dir, &cfg).expect("phantom dataset");
}

fn options(root: &Path, data: &Path, epochs: u32, weights: Option<&str>) -> TrainOptions {
    TrainOptions {
        session: NAME.into(),
        sessions_dir: Some(root.to_path_buf()),
        builder: BuilderKind::Unet,
        generator: GenKind::Atlas,
        weights: weights.map(Into::into),
        overrides: Overrides {
            epochs: Some(epochs),
            data_dir: Some(data.to_path_buf()),
            ..Overrides::default()
        },
    }
}

#[test]
fn a_checkpoint_from_an_earlier_build_resumes_bitwise() {
    let fixture = fixture_dir();
    let (data, root) = (temp("data"), temp("sessions"));
    phantom(&data);
    let session = root.join(NAME);
    std::fs::create_dir_all(session.join("checkpoints")).unwrap();
    for f in SESSION_FILES.iter().chain(&["training_history.json"]) {
        std::fs::copy(fixture.join(f), session.join(f)).unwrap();
    }
    let first = "checkpoints/chkpt_01.safetensors";
    std::fs::copy(fixture.join(first), session.join(first)).unwrap();

    let s = train(&options(&root, &data, 2, Some("chkpt_01.safetensors"))).unwrap();
    assert_eq!(s.last_epoch, 2);
    assert_same_checkpoints(
        &session.join("checkpoints/chkpt_02.safetensors"),
        &fixture.join("expected/chkpt_02.safetensors"),
        "epoch 2 resumed from the committed epoch-1 checkpoint",
    );
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&root);
}

/// Writes the fixture: a small U-Net session trained for two epochs, its epoch-1 checkpoint
/// and, as the expected result, its epoch-2 checkpoint.
#[test]
#[ignore = "writes tests/fixtures/checkpoint_v1; run by hand (see the module doc)"]
fn write_checkpoint_fixture() {
    let (data, root) = (temp("wdata"), temp("wsessions"));
    phantom(&data);
    let paths = new_session(
        &NewSession {
            name: NAME.into(),
            sessions_root: root.clone(),
            builder: BuilderKind::Unet,
            generator: GenKind::Atlas,
            shape: [16, 16, 16],
            data_dir: Some(data.clone()),
            split: SplitFractions::new(0.5, 0.34, 0.16).unwrap(),
            seed: 5,
            atlas: None,
            force: false,
        },
        &mut Logger::console(),
    )
    .unwrap();
    let mut b = BuilderConfig::load(&paths.builder()).unwrap();
    b.unet.enc_nf = vec![8, 8, 8];
    b.unet.dec_nf = vec![8, 8, 8, 8, 8];
    b.save(&paths.builder()).unwrap();
    let mut c = TrainConfig::load(&paths.config()).unwrap();
    c.optimizer.lr = 3e-3;
    c.workers = 1;
    c.steps_per_epoch = 4;
    c.save(&paths.config()).unwrap();
    train(&options(&root, &data, 2, None)).unwrap();

    let fixture = fixture_dir();
    let _ = std::fs::remove_dir_all(&fixture);
    std::fs::create_dir_all(fixture.join("checkpoints")).unwrap();
    std::fs::create_dir_all(fixture.join("expected")).unwrap();
    let session = root.join(NAME);
    for f in SESSION_FILES.iter().chain(&["training_history.json"]) {
        std::fs::copy(session.join(f), fixture.join(f)).unwrap();
    }
    let ck = |e: u32| format!("checkpoints/chkpt_{e:02}.safetensors");
    std::fs::copy(session.join(ck(1)), fixture.join(ck(1))).unwrap();
    std::fs::copy(
        session.join(ck(2)),
        fixture.join("expected/chkpt_02.safetensors"),
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&root);
}
