//! An interrupt (Ctrl-C, here requested programmatically: the flag is process-wide, so this
//! test has its own binary) ends training after the current step with a checkpoint and a
//! history entry for the cut-short epoch; resuming from that checkpoint finishes the epoch
//! where it stopped, and the run ends bitwise where an uninterrupted one does.

mod common;

use common::assert_same_checkpoints;
use std::path::{Path, PathBuf};
use voxflow::data::generators::GenKind;
use voxflow::data::phantom::{PhantomConfig, write_dataset};
use voxflow::eval::inspect::inspect;
use voxflow::eval::scores_meta::ScoresMeta;
use voxflow::eval::{EvalOptions, InferenceOptions, evaluate};
use voxflow::models::BuilderKind;
use voxflow::report::tensorboard::read_events;
use voxflow::session::config::TrainConfig;
use voxflow::session::log::Logger;
use voxflow::session::{IdSet, SplitFractions, TrainingHistory, read_checkpoint_info};
use voxflow::session::{NewSession, Overrides, new_session};
use voxflow::train::{TrainOptions, interrupt, train};

#[test]
fn an_interrupt_checkpoints_mid_epoch_and_the_resumed_run_equals_an_uninterrupted_one() {
    let tmp = common::TempDir::absent("interrupt").keep();
    let data = tmp.join("data");
    let cfg = PhantomConfig {
        n: 5,
        seed: 1,
        subsets: 1,
        grid_scale: 0.25,
        phases: 1,
    };
    write_dataset(&data, &cfg).unwrap();
    let root = tmp.join("sessions");
    for name in ["s", "straight"] {
        make_session(&root, name, &data);
    }
    let o = |name: &str| TrainOptions {
        session: name.into(),
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
    let straight = train(&o("straight")).unwrap();
    assert_eq!(
        (
            straight.last_epoch,
            straight.cut_short,
            straight.interrupted
        ),
        (3, false, false)
    );
    interrupt::request();
    let s = train(&o("s")).unwrap();
    assert!(!interrupt::requested(), "the trainer clears the request");
    assert_eq!(
        (s.last_epoch, s.cut_short, s.interrupted),
        (1, true, true),
        "stopped in the first epoch"
    );
    let ckpt: PathBuf = root.join("s/checkpoints/chkpt_01.safetensors");
    assert!(ckpt.is_file());
    assert!(!root.join("s/checkpoints/chkpt_02.safetensors").exists());
    let log = std::fs::read_to_string(root.join("s/logs.txt")).unwrap();
    assert!(
        log.contains("interrupted: epoch 1 ended after 1 of 4 steps")
            && log.contains("--weights chkpt_01.safetensors resumes the epoch where it stopped"),
        "{log}"
    );
    let h = TrainingHistory::load(&root.join("s/training_history.json")).unwrap();
    assert_eq!(h.last_epoch(), Some(1));
    let info = read_checkpoint_info(&ckpt).unwrap();
    assert_eq!(info.meta.partial.as_ref().map(|p| p.steps_done), Some(1));
    for shown in [inspect(&root.join("s"), None), inspect(&ckpt, None)] {
        let shown = shown.unwrap();
        assert!(shown.contains("cut short after 1 steps"), "{shown}");
    }
    // eval says so too, and records it beside the table.
    let report = evaluate(&EvalOptions {
        inference: InferenceOptions {
            session: "s".into(),
            sessions_dir: Some(root.clone()),
            weights: "chkpt_01.safetensors".into(),
            device: None,
            gpu_id: None,
        },
        set: IdSet::Val,
        out: Some(tmp.join("partial_val.csv")),
        refine: None,
    })
    .unwrap();
    assert!(
        report
            .summary
            .contains("checkpoint chkpt_01.safetensors (epoch 1, cut short after 1 steps)"),
        "{}",
        report.summary
    );
    let meta = ScoresMeta::read_beside(&report.path).unwrap();
    assert_eq!((meta.epoch, meta.cut_short_after), (1, Some(1)));

    // A copy resumed with as few steps per epoch as were done: the epoch is complete.
    copy_dir(&root.join("s"), &root.join("short"));
    let mut short = o("short");
    short.weights = Some("chkpt_01.safetensors".into());
    short.overrides.steps_per_epoch = Some(1);
    train(&short).unwrap();
    let log = std::fs::read_to_string(root.join("short/logs.txt")).unwrap();
    assert!(
        log.contains("(epoch 1 cut short after 1 steps, as many as the 1 steps per epoch set now or more: ending it)"),
        "{log}"
    );

    // Resume: steps 2-4 of epoch 1, then epochs 2 and 3, as if never interrupted.
    let mut resumed = o("s");
    resumed.weights = Some("chkpt_01.safetensors".into());
    train(&resumed).unwrap();
    let log = std::fs::read_to_string(root.join("s/logs.txt")).unwrap();
    assert!(
        log.contains("(epoch 1 cut short after 1 of 4 steps: finishing it)"),
        "{log}"
    );
    assert_eq!(read_checkpoint_info(&ckpt).unwrap().meta.partial, None);
    for e in 1..=3 {
        let ckpt = |name: &str| root.join(format!("{name}/checkpoints/chkpt_{e:02}.safetensors"));
        let what = format!("epoch {e}");
        assert_same_checkpoints(&ckpt("straight"), &ckpt("s"), &what);
    }
    let hist = |name: &str| {
        std::fs::read_to_string(root.join(name).join("training_history.json")).unwrap()
    };
    assert_eq!(hist("straight"), hist("s"), "same epoch means, bit for bit");
    // TensorBoard: the cut-short epoch added only its step's loss; over its two event files
    // the resumed session holds each point once, the same as the straight run's.
    let (tb_straight, tb_s) = (
        tb_points(&root.join("straight")),
        tb_points(&root.join("s")),
    );
    assert_eq!(
        tb_straight.len(),
        3 * (2 + 4),
        "3 epochs × (scalars, image, 4 step losses)"
    );
    assert_eq!(tb_s, tb_straight);

    // A Ctrl-C during the run's very last step stops nothing: the run finished.
    make_session(&root, "last", &data);
    let mut last = o("last");
    last.overrides.epochs = Some(1);
    last.overrides.steps_per_epoch = Some(1);
    interrupt::request();
    let s = train(&last).unwrap();
    assert_eq!(
        (s.last_epoch, s.cut_short, s.interrupted),
        (1, false, false)
    );
    let log = std::fs::read_to_string(root.join("last/logs.txt")).unwrap();
    assert!(
        !log.contains("interrupted") && log.contains("done: trained through epoch 1"),
        "{log}"
    );

    // A Ctrl-C during an epoch that meets early stopping: the run ends early-stopped, as a
    // straight run would (as "interrupted", a resume would train another epoch).
    make_session(&root, "early", &data);
    let config = root.join("early/config.toml");
    let mut c = TrainConfig::load(&config).unwrap();
    c.early_stopping.min_delta = 1e9; // only the first epoch counts as an improvement
    c.early_stopping.patience = 1;
    c.save(&config).unwrap();
    let run = |epochs: u32, weights: Option<&str>| {
        let mut r = o("early");
        r.overrides.epochs = Some(epochs);
        r.overrides.steps_per_epoch = Some(1);
        r.weights = weights.map(Into::into);
        r
    };
    train(&run(1, None)).unwrap();
    interrupt::request(); // seen after epoch 2's only step
    let s = train(&run(3, Some("chkpt_01.safetensors"))).unwrap();
    assert_eq!(
        (s.last_epoch, s.interrupted, s.stopped_early),
        (2, false, true)
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// One TensorBoard event: its step, its scalars `(tag, value bits)`, its image tags.
type TbPoint = (i64, Vec<(String, u32)>, Vec<String>);

/// Every TensorBoard event of a session (all its event files), scalars without the timings,
/// sorted.
fn tb_points(session: &Path) -> Vec<TbPoint> {
    let mut points = Vec::new();
    for f in std::fs::read_dir(session.join("tensorboard")).unwrap() {
        for ev in read_events(&f.unwrap().path()).unwrap() {
            if ev.file_version.is_some() {
                continue;
            }
            let scalars = ev
                .scalars
                .iter()
                .filter(|(t, _)| t != "steps_per_s" && t != "data_wait_pct")
                .map(|(t, v)| (t.clone(), v.to_bits()))
                .collect();
            let images = ev.images.iter().map(|i| i.tag.clone()).collect();
            points.push((ev.step, scalars, images));
        }
    }
    points.sort();
    points
}

fn make_session(root: &Path, name: &str, data: &Path) {
    new_session(
        &NewSession {
            name: name.into(),
            sessions_root: root.to_path_buf(),
            builder: BuilderKind::Unet,
            generator: GenKind::Luna,
            shape: [8, 8, 8],
            data_dir: Some(data.to_path_buf()),
            split: SplitFractions::new(0.6, 0.4, 0.0).unwrap(),
            seed: 2,
            atlas: None,
            force: false,
        },
        &mut Logger::console(),
    )
    .unwrap();
}

/// Copies the directory `from` to `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
