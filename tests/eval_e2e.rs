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
use voxflow::data::landmarks::write_landmarks_csv;
use voxflow::data::phantom::{PhantomConfig, write_dataset};
use voxflow::data::preprocess::binarize_mask;
use voxflow::data::preprocess::preprocess_image;
use voxflow::eval::scores::{BASE_COLUMNS, ScoreTable};
use voxflow::eval::{EvalContext, InferenceOptions};
use voxflow::metrics::{dice, folding_pct, jacobian_determinants, mse};
use voxflow::models::{BuilderConfig, BuilderKind};
use voxflow::registration::{DisplacementField, Grid, Interp};
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
    // Then the physical-space columns (no TRE: the phantom's subjects have one scan each,
    // and landmarks correspond only within a subject).
    let tail = &table.columns[table.columns.len() - 6..];
    assert_eq!(
        tail,
        [
            "dice_1mm",
            "ncc_native_before",
            "ncc_native",
            "dice_native_before",
            "dice_native",
            "folding_native_pct"
        ]
    );
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
        // Before registration: the source's lungs where they lie, on the target's native grid.
        let (raw_src, raw_tgt) = (
            binarize_mask(ctx.dataset().load_mask(&pair.src).unwrap()),
            binarize_mask(ctx.dataset().load_mask(&pair.tgt).unwrap()),
        );
        let lying =
            DisplacementField::zeros(Grid::of(&raw_tgt)).warp(&raw_src, Interp::Nearest, 0.0);
        assert_eq!(col("dice_native_before"), dice(&lying.data, &raw_tgt.data));
        assert!(col("dice_native") > 0.3 && col("dice_native") <= 1.0);
    }

    // --refine: each prediction refined per pair, into its own table, with the network's
    // scores beside the refined ones; refinement improves the overlap.
    let out = stdout(&voxflow(&[
        "eval",
        "tiny",
        "--weights",
        "chkpt_02.safetensors",
        "--sessions-dir",
        r,
        "--refine",
        "--iterations",
        "15",
    ]));
    assert!(out.contains("refined by [15, 15] Adam steps"), "{out}");
    let csv = dir.join("scores/test_refined_scores.csv");
    let refined = ScoreTable::parse(&std::fs::read_to_string(&csv).unwrap(), &csv).unwrap();
    let mean = |t: &ScoreTable, c: &str| {
        let k = t.columns.iter().position(|x| x == c).unwrap();
        t.rows.iter().map(|r| r.values[k]).sum::<f64>() / t.rows.len() as f64
    };
    assert_eq!(
        mean(&refined, "dice_native_network"),
        mean(&table, "dice_native")
    );
    assert!(
        mean(&refined, "dice_native") > mean(&table, "dice_native") + 0.05,
        "refined {} vs network {}",
        mean(&refined, "dice_native"),
        mean(&table, "dice_native")
    );

    // Scoring the validation set reproduces the trainer's last validation Dice (it validates
    // on the first `val_steps` = 1 pair of the same single pass).
    let val = voxflow::eval::evaluate(&voxflow::eval::EvalOptions {
        inference: ctx_options(&root),
        set: voxflow::session::IdSet::Val,
        out: None,
        refine: None,
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
        refine: None,
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
        refine: None,
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("cannot write the score table") && e.contains("--out"),
        "{e}"
    );

    // ---- landmarks beside the data (landmarks/<id>.csv: rows correspond across all scans):
    // the TRE columns. Each scan's points are its box's centre plus the same offsets, so
    // unregistered, every row is off by the distance between the two centres.
    // (The phantom's own files, one folder per subject, correspond within a subject only.)
    let marks = data.join("landmarks");
    std::fs::remove_dir_all(&marks).unwrap();
    std::fs::create_dir_all(&marks).unwrap();
    for id in ctx.dataset().ids() {
        let c = Grid::of(&ctx.dataset().load_image(&id).unwrap()).centre();
        let rows: Vec<[f64; 3]> = [[0.0, 0.0, 0.0], [12.0, 0.0, -4.0], [0.0, -9.0, 6.0]]
            .iter()
            .map(|o| [c[0] + o[0], c[1] + o[1], c[2] + o[2]])
            .collect();
        write_landmarks_csv(&marks.join(format!("{id}.csv")), &rows).unwrap();
    }
    let out = stdout(&voxflow(&[
        "eval",
        "tiny",
        "--weights",
        "chkpt_02.safetensors",
        "--sessions-dir",
        r,
        "--out",
        root.join("with_landmarks.csv").to_str().unwrap(),
    ]));
    assert!(out.contains("tre: mean landmark error in mm"), "{out}");
    let csv = root.join("with_landmarks.csv");
    let marked = ScoreTable::parse(&std::fs::read_to_string(&csv).unwrap(), &csv).unwrap();
    let tail = &marked.columns[marked.columns.len() - 4..];
    assert_eq!(tail, ["tre_before", "tre", "tre_p90", "folding_native_pct"]);
    for (pair, row) in pairs.iter().zip(&marked.rows) {
        let col = |c: &str| row.values[marked.columns.iter().position(|x| x == c).unwrap()];
        let centre = |id: &str| Grid::of(&ctx.dataset().load_image(id).unwrap()).centre();
        let (a, b) = (centre(&pair.src), centre(&pair.tgt));
        let apart = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
        assert!(
            (col("tre_before") - apart).abs() < 1e-6,
            "{} vs {apart}",
            col("tre_before")
        );
        assert!(col("tre").is_finite() && col("tre") != col("tre_before"));
        assert!(col("tre_p90") >= 0.0);
    }
    std::fs::remove_dir_all(&marks).unwrap();

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
    // The displacement: in world mm on the target's native grid (RAS in the file, DISPVECT),
    // the network's sampling grid carried through both scans' network-grid geometry.
    let disp = nifti::read_vector(&show_dir.join("displacement_02.nii.gz")).unwrap();
    assert_eq!(disp.len(), 3);
    let raw_source = ctx.dataset().load_image(src).unwrap();
    let source = preprocess_image(&raw_source, [16; 3]).unwrap();
    let sampling = net.grid.to_vec().unwrap();
    let (tg, sg) = (Grid::of(&target), Grid::of(&source));
    let native = Grid::of(&raw_target);
    let mut moved = 0.0f64;
    for (i, p) in native
        .map_points(|_, p| p)
        .into_iter()
        .enumerate()
        .step_by(97)
    {
        assert_eq!(disp[0].dims, raw_target.dims);
        let got = [-disp[0].data[i], -disp[1].data[i], disp[2].data[i]];
        // Target network voxel of p, the network's sample there (trilinear), source world.
        let g = tg.world_to_voxel(p);
        let q = sg.voxel_to_world(trilinear_sampling(&sampling, [16; 3], g));
        for c in 0..3 {
            let want = q[c] - p[c];
            assert!(
                (got[c] as f64 - want).abs() < 2e-3,
                "voxel {i} comp {c}: {got:?} vs {want}"
            );
        }
        moved = moved.max((got[0].abs() + got[1].abs() + got[2].abs()) as f64);
    }
    assert!(moved > 1e-3, "the trained network moves something");
    let warped_native = nifti::read(&show_dir.join("warped_native_02.nii.gz")).unwrap();
    assert_eq!(warped_native.dims, raw_target.dims);

    // ---- register --session: the same network map as show's, then refined.
    let scan = |id: &str| {
        ctx.dataset()
            .image_path(id)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    let (fixed, moving) = (scan(&atlas), scan(src));
    let register = |iterations: &str, out: &Path| {
        stdout(&voxflow(&[
            "register",
            "--session",
            "tiny",
            "--weights",
            "chkpt_02.safetensors",
            "--sessions-dir",
            r,
            "--fixed",
            &fixed,
            "--moving",
            &moving,
            "--iterations",
            iterations,
            "--out",
            out.to_str().unwrap(),
        ]))
    };
    let alone = root.join("reg_network");
    let screen = register("0", &alone);
    assert!(
        screen.contains("network: session tiny, chkpt_02.safetensors (epoch 2)"),
        "{screen}"
    );
    let got = nifti::read_vector(&alone.join("displacement.nii.gz")).unwrap();
    for (a, b) in got.iter().zip(&disp) {
        assert_eq!(a.dims, b.dims);
        assert!(
            a.data
                .iter()
                .zip(&b.data)
                .all(|(x, y)| (x - y).abs() < 1e-3)
        );
    }
    let refined = root.join("reg_refined");
    register("10", &refined);
    let corr = |dir: &Path| {
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        assert!(
            j["network"]["checkpoint"]
                .as_str()
                .unwrap()
                .contains("chkpt_02")
        );
        j["correlation"]["after"].as_f64().unwrap()
    };
    assert!(
        corr(&refined) > corr(&alone) + 0.01,
        "{} vs {}",
        corr(&refined),
        corr(&alone)
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
    let (trainable, total) = ctx.net.store.count();
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
    let tensors = ctx.net.store.iter().count();
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
    std::fs::write(&list, ids).unwrap();

    // ---- train --evaluate: one more epoch, then the test pairs registered and refined.
    let out = stdout(&voxflow(&[
        "train",
        "--session",
        "tiny",
        "--builder",
        "unet",
        "--gen",
        "atlas",
        "--epochs",
        "3",
        "--sessions-dir",
        r,
        "--weights",
        "chkpt_02.safetensors",
        "--evaluate",
    ]));
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "registration of the {} test pairs at native resolution: image correlation",
            pairs.len()
        )) && last.contains("; folding"),
        "{out}"
    );
    let record = std::fs::read_to_string(dir.join("scores/test_refined_scores.json")).unwrap();
    assert!(record.contains("chkpt_03.safetensors"), "{record}");
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&data);
}

/// The network's sampling grid `[D, H, W, 3]` at continuous target voxel `g` (x, y, z),
/// trilinear, clamped at the borders: where target point `g` samples the source.
fn trilinear_sampling(grid: &[f32], dims: [usize; 3], g: [f64; 3]) -> [f64; 3] {
    let [d, h, w] = dims;
    let size = [w, h, d];
    let mut base = [0usize; 3];
    let mut frac = [0f64; 3];
    for a in 0..3 {
        let x = g[a].clamp(0.0, size[a] as f64 - 1.0);
        base[a] = (x.floor() as usize).min(size[a] - 2);
        frac[a] = x - base[a] as f64;
    }
    let mut out = [0f64; 3];
    for corner in 0..8usize {
        let off = [corner & 1, (corner >> 1) & 1, (corner >> 2) & 1];
        let wgt: f64 = (0..3)
            .map(|a| if off[a] == 1 { frac[a] } else { 1.0 - frac[a] })
            .product();
        let [x, y, z] = [0, 1, 2].map(|a| base[a] + off[a]);
        let v = ((z * h + y) * w + x) * 3;
        for c in 0..3 {
            out[c] += wgt * grid[v + c] as f64;
        }
    }
    out
}
