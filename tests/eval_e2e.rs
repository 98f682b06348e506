//! End to end: a tiny session trained for two epochs on a phantom dataset at 16³, then the
//! `voxflow eval`, `show` and `inspect` commands run as a user runs them (the binary), and
//! their files checked against the library: the score table holds one finite row per test
//! sample whose values are the network's, the NIfTI volumes read back with the target's
//! geometry and the network's warped image and displacement in mm, and wrong arguments give
//! errors naming the file or id at fault.

mod common;

use common::{TempDir, voxflow};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use voxflow::data::generators::GenKind;
use voxflow::data::generators::{VolumeSource, single_pass};
use voxflow::data::io::nifti;
use voxflow::data::phantom::{PhantomConfig, write_dataset};
use voxflow::data::preprocess::preprocess_image;
use voxflow::eval::scores::{BASE_COLUMNS, ScoreTable};
use voxflow::eval::{EvalContext, InferenceOptions};
use voxflow::metrics::{dice, folding_pct, jacobian_determinants, mse};
use voxflow::models::{BuilderConfig, BuilderKind, displacement_mm};
use voxflow::session::SplitFractions;
use voxflow::session::config::TrainConfig;
use voxflow::session::log::Logger;
use voxflow::session::read_ids;
use voxflow::session::{NewSession, Overrides, new_session};
use voxflow::train::{TrainOptions, train};

fn temp(tag: &str) -> PathBuf {
    TempDir::absent(&format!("eval-{tag}")).keep()
}

/// Creates session `name` at 16³ with a tiny U-Net (`nf` filters) on `data`.
fn make_session(root: &Path, data: &Path, name: &str, nf: usize) {
    let paths = new_session(
        &NewSession {
            name: name.into(),
            sessions_root: root.to_path_buf(),
            builder: BuilderKind::Unet,
            generator: GenKind::Atlas,
            shape: [16, 16, 16],
            data_dir: Some(data.to_path_buf()),
            split: SplitFractions::new(0.5, 0.2, 0.3).unwrap(),
            seed: 5,
            atlas: None,
            force: false,
        },
        &mut Logger::console(),
    )
    .unwrap();
    let mut b = BuilderConfig::load(&paths.builder()).unwrap();
    b.unet.enc_nf = vec![nf; 3];
    b.unet.dec_nf = vec![nf; 5];
    b.save(&paths.builder()).unwrap();
    let mut c = TrainConfig::load(&paths.config()).unwrap();
    c.optimizer.lr = 3e-3;
    c.workers = 1;
    c.save(&paths.config()).unwrap();
}

fn ctx_options(root: &Path) -> InferenceOptions {
    InferenceOptions {
        session: "tiny".into(),
        sessions_dir: Some(root.to_path_buf()),
        weights: "chkpt_02.safetensors".into(),
        device: None,
        gpu_id: None,
    }
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails_with(o: &Output, parts: &[&str]) {
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    for p in parts {
        assert!(err.contains(p), "stderr lacks {p:?}: {err}");
    }
}

#[test]
fn eval_show_and_inspect_a_trained_session() {
    let data = temp("data");
    write_dataset(
        &data,
        &PhantomConfig {
            n: 8,
            seed: 3,
            subsets: 2,
            grid_scale: 0.3,
            phases: 1,
        },
    )
    .unwrap();
    let root = temp("sessions");
    let r = root.to_str().unwrap();
    make_session(&root, &data, "tiny", 4);
    let s = train(&TrainOptions {
        session: "tiny".into(),
        sessions_dir: Some(root.clone()),
        builder: BuilderKind::Unet,
        generator: GenKind::Atlas,
        weights: None,
        overrides: Overrides {
            epochs: Some(2),
            steps_per_epoch: Some(3),
            ..Overrides::default()
        },
    })
    .unwrap();
    assert_eq!(s.last_epoch, 2);
    let dir = root.join("tiny");

    // ---- eval
    let out = stdout(&voxflow(&[
        "eval",
        "tiny",
        "--weights",
        "chkpt_02.safetensors",
        "--sessions-dir",
        r,
    ]));
    for part in [
        "test set of session tiny",
        "epoch 2",
        "network grid 16x16x16",
        "dice_1mm",
        "median",
        "p95",
    ] {
        assert!(out.contains(part), "summary lacks {part:?}");
    }
    let csv = dir.join("scores/test_scores.csv");
    let table = ScoreTable::parse(&std::fs::read_to_string(&csv).unwrap(), &csv).unwrap();
    assert_eq!(
        &table.columns[..10],
        BASE_COLUMNS.map(String::from).as_slice()
    );
    assert_eq!(table.columns.last().unwrap(), "dice_1mm");
    // The phantom's masks label the right (3) and left (4) lung: one Dice column per label.
    assert!(table.columns.contains(&"dice_3".into()) && table.columns.contains(&"dice_4".into()));
    for c in ["mean", "std", "median", "p5", "p95"] {
        assert!(out.lines().any(|l| l.contains(c)), "{c}");
    }
    for c in &table.columns {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("{c} "))),
            "no summary line for {c}"
        );
    }
    let cfg = TrainConfig::load(&dir.join("config.toml")).unwrap();
    let atlas = cfg.atlas_id.clone().unwrap();
    let test_ids = read_ids(&dir.join("test_ids.csv")).unwrap();
    let pairs = single_pass(GenKind::Atlas, &test_ids, Some(&atlas)).unwrap();
    assert!(!pairs.is_empty());
    let ids: Vec<String> = table.rows.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids, pairs.iter().map(|p| p.label()).collect::<Vec<_>>());
    assert!(
        table
            .rows
            .iter()
            .all(|r| r.values.iter().all(|v| v.is_finite()))
    );

    // The values are the network's: recompute some of them with the library.
    let ctx = EvalContext::open(&ctx_options(&root), &mut Logger::console()).unwrap();
    for (pair, row) in pairs.iter().zip(&table.rows) {
        let col = |c: &str| row.values[table.columns.iter().position(|x| x == c).unwrap()];
        let (batch, out) = ctx.run(pair).unwrap();
        let (w, t) = (out.deformed.to_vec().unwrap(), batch.tgt.to_vec().unwrap());
        assert_eq!(col("mse"), mse(&w, &t));
        let dets = jacobian_determinants(&out.grid.to_vec().unwrap(), [16; 3]);
        assert_eq!(col("folding_pct"), folding_pct(&dets));
        let (sm, tm) = (
            ctx.source.mask(&pair.src).unwrap(),
            ctx.source.mask(&pair.tgt).unwrap(),
        );
        assert_eq!(col("dice_before"), dice(&sm, &tm));
        assert_eq!(col("dice"), dice(&ctx.warp(&sm, &out.grid).unwrap(), &tm));
        assert!((col("cross_correlation") - col("ncc").powi(2)).abs() < 1e-12);
        assert!(col("hd95") <= col("hausdorff") && col("msd") <= col("hausdorff"));
        assert!(col("dice_1mm") > 0.3 && col("dice_1mm") <= 1.0);
    }

    // Scoring the validation set reproduces the trainer's last validation Dice (it validates
    // on the first `val_steps` = 1 pair of the same single pass).
    let val = voxflow::eval::evaluate(&voxflow::eval::EvalOptions {
        inference: ctx_options(&root),
        set: voxflow::session::IdSet::Val,
        out: None,
    })
    .unwrap();
    let h = voxflow::session::TrainingHistory::load(&dir.join("training_history.json")).unwrap();
    let last = |k: &str| h.series(k).unwrap().last().copied().flatten().unwrap();
    let vcol = |c: &str| val.table.column(c).unwrap()[0];
    assert!((vcol("dice") - last("val_dice")).abs() < 1e-12);
    assert!((vcol("dice_before") - last("val_dice_before")).abs() < 1e-12);
    assert_eq!(val.path, dir.join("scores/val_scores.csv"));
    // Beside it, what produced it: the checkpoint and the summary.
    let meta = voxflow::eval::scores_meta::ScoresMeta::read_beside(&val.path).unwrap();
    assert_eq!(
        (meta.set.as_str(), meta.epoch, meta.samples, meta.grid),
        ("val", 2, 1, [16; 3])
    );
    assert_eq!(meta.checkpoint.file_name().unwrap(), "chkpt_02.safetensors");
    assert_eq!(meta.summary, val.table.summary());
    // --out writes the table elsewhere, its record beside it.
    let elsewhere = root.join("elsewhere/val.csv");
    let again = voxflow::eval::evaluate(&voxflow::eval::EvalOptions {
        inference: ctx_options(&root),
        set: voxflow::session::IdSet::Val,
        out: Some(elsewhere.clone()),
    })
    .unwrap();
    assert_eq!(again.path, elsewhere);
    assert_eq!(
        std::fs::read_to_string(&elsewhere).unwrap(),
        std::fs::read_to_string(&val.path).unwrap()
    );
    assert!(root.join("elsewhere/val.json").is_file());
    // A folder that cannot hold the table is refused before anything is scored.
    let blocker = root.join("a-file");
    std::fs::write(&blocker, b"x").unwrap();
    let e = voxflow::eval::evaluate(&voxflow::eval::EvalOptions {
        inference: ctx_options(&root),
        set: voxflow::session::IdSet::Val,
        out: Some(blocker.join("val.csv")),
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("cannot write the score table") && e.contains("--out"),
        "{e}"
    );

    // ---- show
    let show_dir = root.join("shown");
    let src = &pairs[0].src;
    let out = stdout(&voxflow(&[
        "show",
        "tiny",
        "--weights",
        "chkpt_02.safetensors",
        "--id",
        src,
        "--out",
        show_dir.to_str().unwrap(),
        "--sessions-dir",
        r,
    ]));
    for f in [
        "src", "tgt", "pred", "grad_x", "grad_y", "grad_z", "pred_seg", "overview",
    ] {
        let p = show_dir.join(format!("{f}_02.png"));
        assert!(
            p.is_file() && out.contains(p.to_str().unwrap()),
            "{}",
            p.display()
        );
    }
    let raw_target = ctx.dataset().load_image(&atlas).unwrap();
    let target = preprocess_image(&raw_target, [16; 3]).unwrap();
    let (batch, net) = ctx.run(&pairs[0]).unwrap();
    let same_geometry = |v: &voxflow::data::Volume, what: &str| {
        assert_eq!(v.dims, [16; 3], "{what}");
        for a in 0..3 {
            // The header stores f32.
            assert!(
                (v.spacing[a] - target.spacing[a]).abs() < 1e-5,
                "{what} spacing"
            );
            assert!(
                (v.origin[a] - target.origin[a]).abs() < 1e-3,
                "{what} origin"
            );
            for b in 0..3 {
                assert!(
                    (v.direction[a][b] - target.direction[a][b]).abs() < 1e-6,
                    "{what}"
                );
            }
        }
    };
    // The target on the network grid is not the raw scan's grid, but covers the same extent.
    assert!(
        target
            .spacing
            .iter()
            .zip(&raw_target.spacing)
            .any(|(a, b)| (a - b).abs() > 1e-3)
    );
    let warped = nifti::read(&show_dir.join("warped_02.nii.gz")).unwrap();
    same_geometry(&warped, "warped");
    assert_eq!(warped.data, net.deformed.to_vec().unwrap());
    let tgt = nifti::read(&show_dir.join("tgt_02.nii.gz")).unwrap();
    same_geometry(&tgt, "tgt");
    assert_eq!(tgt.data, batch.tgt.to_vec().unwrap());
    let seg = nifti::read(&show_dir.join("warped_seg_02.nii.gz")).unwrap();
    same_geometry(&seg, "warped_seg");
    let soft = ctx.warp(&ctx.source.mask(src).unwrap(), &net.grid).unwrap();
    assert!(
        seg.data
            .iter()
            .zip(&soft)
            .all(|(s, w)| *s == f32::from(u8::from(*w > 0.5)))
    );
    let disp = nifti::read_vector(&show_dir.join("displacement_02.nii.gz")).unwrap();
    assert_eq!(disp.len(), 3);
    let s = target.spacing.map(|v| v as f32);
    let want = displacement_mm(&net.grid, s).unwrap().to_vec().unwrap();
    for (c, comp) in disp.iter().enumerate() {
        same_geometry(comp, "displacement");
        for (i, v) in comp.data.iter().enumerate() {
            assert_eq!(*v, want[i * 3 + c], "component {c} voxel {i}");
        }
    }
    assert!(
        want.iter().any(|v| v.abs() > 1e-4),
        "the trained network moves something"
    );

    // ---- inspect: session, builder, checkpoint
    let out = stdout(&voxflow(&["inspect", dir.to_str().unwrap()]));
    let n = |set: &str| read_ids(&dir.join(format!("{set}_ids.csv"))).unwrap().len();
    for part in [
        "session tiny".to_string(),
        format!(
            "split: {} train, {} val, {} test ids",
            n("train"),
            n("val"),
            n("test")
        ),
        "chkpt_02.safetensors (epoch 2)".into(),
        "history: 2 epochs | best val_loss".into(),
        format!(
            "scores test_scores.csv: {} samples | chkpt_02.safetensors (epoch 2) | mean",
            pairs.len()
        ),
    ] {
        assert!(out.contains(&part), "inspect session lacks {part:?}");
    }
    // The score record pins the checkpoint's content: a later run rewriting chkpt_02, or the
    // file going away, is said.
    let ck2 = dir.join("checkpoints/chkpt_02.safetensors");
    let kept = std::fs::read(&ck2).unwrap();
    std::fs::copy(dir.join("checkpoints/chkpt_01.safetensors"), &ck2).unwrap();
    let out = stdout(&voxflow(&["inspect", dir.to_str().unwrap()]));
    assert!(
        out.contains("chkpt_02.safetensors (epoch 2; that file now holds another checkpoint)"),
        "{out}"
    );
    std::fs::remove_file(&ck2).unwrap();
    let out = stdout(&voxflow(&["inspect", dir.to_str().unwrap()]));
    assert!(out.contains("(epoch 2; that file is gone)"), "{out}");
    std::fs::write(&ck2, kept).unwrap();
    // A session moved elsewhere: its records' absolute paths are stale, the session's own
    // checkpoint is what they follow.
    let record = dir.join("scores/test_scores.json");
    let text = std::fs::read_to_string(&record).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        json["checkpoint_in_session"],
        "checkpoints/chkpt_02.safetensors"
    );
    json["checkpoint"] = "/elsewhere/tiny/checkpoints/chkpt_02.safetensors".into();
    std::fs::write(&record, json.to_string()).unwrap();
    let out = stdout(&voxflow(&["inspect", dir.to_str().unwrap()]));
    assert!(
        out.contains("| chkpt_02.safetensors (epoch 2) | mean"),
        "{out}"
    );
    std::fs::write(&record, text).unwrap();
    let (trainable, total) = ctx.store.count();
    let commas = |n: usize| {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    let params = format!(
        "{} parameters ({} trainable)",
        commas(total),
        commas(trainable)
    );
    let out = stdout(&voxflow(&[
        "inspect",
        dir.join("builder.toml").to_str().unwrap(),
    ]));
    assert!(out.contains(&params), "{params}");
    for layer in ["enc1", "enc3", "dec5", "gradient_flow", "transformer"] {
        assert!(
            out.lines().any(|l| l.starts_with(layer)),
            "builder lacks {layer}"
        );
    }
    let ck = dir.join("checkpoints/chkpt_02.safetensors");
    let out = stdout(&voxflow(&["inspect", ck.to_str().unwrap()]));
    let tensors = ctx.store.iter().count();
    assert!(out.contains("epoch 2 |") && out.contains(&params));
    assert!(out.contains(" | network hash "), "{out}");
    assert!(
        out.contains(&format!("{tensors} model tensors")),
        "{tensors}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("gradient_flow.bias ") && l.ends_with("[3]"))
    );
    // A session name resolves under --sessions-dir too.
    assert!(stdout(&voxflow(&["inspect", "tiny", "--sessions-dir", r])).contains("session tiny"));

    // ---- output into a pipe whose reader has gone (`voxflow eval ... | head -1`): the
    // command still does its work and succeeds.
    for args in [
        vec![
            "eval",
            "tiny",
            "--weights",
            "chkpt_02.safetensors",
            "--set",
            "val",
        ],
        vec!["inspect", "tiny"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let scores = dir.join("scores/val_scores.csv");
        let _ = std::fs::remove_file(&scores);
        let out = Command::new(env!("CARGO_BIN_EXE_voxflow"))
            .args(&args)
            .args(["--sessions-dir", r])
            .stdout(writer)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !err.contains("panicked"),
            "{args:?}: {err}"
        );
        assert_eq!(scores.is_file(), args[0] == "eval", "{args:?}");
    }

    // ---- errors name what is wrong, and never panic
    fails_with(
        &voxflow(&[
            "eval",
            "tiny",
            "--weights",
            "chkpt_09.safetensors",
            "--sessions-dir",
            r,
        ]),
        &[
            "chkpt_09.safetensors does not exist",
            "chkpt_02.safetensors (epoch 2)",
        ],
    );
    fails_with(
        &voxflow(&[
            "eval",
            "tiny",
            "--weights",
            dir.to_str().unwrap(),
            "--sessions-dir",
            r,
        ]),
        &["is not a checkpoint file", "chkpt_02.safetensors (epoch 2)"],
    );
    fails_with(
        &voxflow(&[
            "eval",
            "nope",
            "--weights",
            "chkpt_01.safetensors",
            "--sessions-dir",
            r,
        ]),
        &["no session \"nope\""],
    );
    fails_with(
        &voxflow(&[
            "show",
            "tiny",
            "--weights",
            "chkpt_02.safetensors",
            "--id",
            "no-such-scan",
            "--sessions-dir",
            r,
        ]),
        &["unknown scan id no-such-scan"],
    );
    // CUDA where a GPU and the CUDA backend are present; otherwise a clear error, no panic.
    let cuda = voxflow(&[
        "eval",
        "tiny",
        "--weights",
        "chkpt_02.safetensors",
        "--device",
        "cuda",
        "--sessions-dir",
        r,
    ]);
    if !cuda.status.success() {
        fails_with(&cuda, &["cuda"]);
    }
    // A checkpoint of another builder is refused by the checkpoint loader's check.
    make_session(&root, &data, "wider", 6);
    fails_with(
        &voxflow(&[
            "eval",
            "wider",
            "--weights",
            ck.to_str().unwrap(),
            "--sessions-dir",
            r,
        ]),
        &["chkpt_02.safetensors", "different builder.toml"],
    );
    // Deleting builder.toml's unused [marianet] table leaves the network as it was: the
    // checkpoint still fits.
    let builder = dir.join("builder.toml");
    let text = std::fs::read_to_string(&builder).unwrap();
    let cut = &text[..text.find("[marianet]").expect("a [marianet] table")];
    std::fs::write(&builder, cut).unwrap();
    let out = root.join("cut_scores.csv");
    let cut_eval = voxflow(&[
        "eval",
        "tiny",
        "--weights",
        "chkpt_02.safetensors",
        "--set",
        "val",
        "--out",
        out.to_str().unwrap(),
        "--sessions-dir",
        r,
    ]);
    assert!(cut_eval.status.success(), "{cut_eval:?}");
    // Written outside the session: the record names the checkpoint by its absolute path only.
    let outside: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("cut_scores.json")).unwrap())
            .unwrap();
    assert!(outside["checkpoint_in_session"].is_null(), "{outside}");
    std::fs::write(&builder, &text).unwrap();
    // The error is in the session's log too.
    let log = std::fs::read_to_string(root.join("wider/logs.txt")).unwrap();
    let last = log.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("Error: ") && last.contains("different builder.toml"),
        "{log}"
    );
    // A test scan without its mask: the test table leaves the mask metrics out and says why;
    // the validation set, whose scans all have masks, keeps them.
    let test_ids = read_ids(&dir.join("test_ids.csv")).unwrap();
    let victim = test_ids.iter().find(|id| **id != atlas).unwrap();
    for entry in std::fs::read_dir(data.join("seg-lungs-LUNA16")).unwrap() {
        let path = entry.unwrap().path();
        if path.file_stem().is_some_and(|s| s == victim.as_str()) {
            std::fs::remove_file(path).unwrap();
        }
    }
    for (set, with_masks) in [("test", false), ("val", true)] {
        let out = stdout(&voxflow(&[
            "eval",
            "tiny",
            "--weights",
            "chkpt_02.safetensors",
            "--set",
            set,
            "--sessions-dir",
            r,
        ]));
        let table = std::fs::read_to_string(dir.join(format!("scores/{set}_scores.csv"))).unwrap();
        let header = table.lines().next().unwrap();
        assert_eq!(header.contains(",dice,"), with_masks, "{set}: {header}");
        assert_eq!(
            out.contains(&format!(
                "scans of the {set} set have no lung mask ({victim})"
            )),
            !with_masks,
            "{out}"
        );
    }
    // An id list with a header line: the error names the list and the id.
    let list = dir.join("test_ids.csv");
    let ids = std::fs::read_to_string(&list).unwrap();
    std::fs::write(&list, format!("id\n{ids}")).unwrap();
    fails_with(
        &voxflow(&[
            "eval",
            "tiny",
            "--weights",
            "chkpt_02.safetensors",
            "--sessions-dir",
            r,
        ]),
        &["test_ids.csv: unknown scan id id"],
    );
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&data);
}
