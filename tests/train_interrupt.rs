//! An interrupt (Ctrl-C, here requested programmatically: the flag is process-wide, so this
//! test has its own binary) ends training after the current step with a checkpoint and a
//! history entry for the cut-short epoch.

use std::path::PathBuf;
use voxflow::data::generators::GenKind;
use voxflow::data::phantom::{PhantomConfig, write_dataset};
use voxflow::models::BuilderKind;
use voxflow::session::{SplitFractions, TrainingHistory};
use voxflow::train::log::Logger;
use voxflow::train::setup::{NewSession, Overrides, new_session};
use voxflow::train::{TrainOptions, interrupt, train};

#[test]
fn an_interrupt_checkpoints_after_the_current_step_and_the_run_resumes() {
    let tmp = std::env::temp_dir().join(format!("voxflow-interrupt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let data = tmp.join("data");
    let cfg = PhantomConfig {
        n: 5,
        seed: 1,
        subsets: 1,
        grid_scale: 0.25,
    };
    write_dataset(&data, &cfg).unwrap();
    let root = tmp.join("sessions");
    new_session(
        &NewSession {
            name: "s".into(),
            sessions_root: root.clone(),
            builder: BuilderKind::Unet,
            generator: GenKind::Luna,
            shape: [8, 8, 8],
            data_dir: Some(data.clone()),
            split: SplitFractions::new(0.6, 0.4, 0.0).unwrap(),
            seed: 2,
            atlas: None,
            force: false,
        },
        &mut Logger::console(),
    )
    .unwrap();
    let o = TrainOptions {
        session: "s".into(),
        sessions_dir: Some(root.clone()),
        builder: BuilderKind::Unet,
        generator: GenKind::Luna,
        weights: None,
        overrides: Overrides {
            epochs: Some(3),
            steps_per_epoch: Some(4),
            ..Overrides::default()
        },
    };
    interrupt::request();
    let s = train(&o).unwrap();
    assert_eq!(s.last_epoch, 1, "stopped in the first epoch");
    let ckpt: PathBuf = root.join("s/checkpoints/chkpt_01.safetensors");
    assert!(ckpt.is_file());
    assert!(!root.join("s/checkpoints/chkpt_02.safetensors").exists());
    let log = std::fs::read_to_string(root.join("s/logs.txt")).unwrap();
    assert!(
        log.contains("interrupted: epoch 1 ended after 1 of 4 steps"),
        "{log}"
    );
    let h = TrainingHistory::load(&root.join("s/training_history.json")).unwrap();
    assert_eq!(h.last_epoch(), Some(1));
    std::fs::remove_dir_all(&tmp).unwrap();
}
