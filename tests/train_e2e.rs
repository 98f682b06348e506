//! End to end: sessions created on a tiny phantom dataset, trained for a few epochs by both
//! builders with all four generators; the loss falls, the session holds every file of SPEC
//! section 1, and a resumed run equals an uninterrupted one bitwise.

mod common;

use common::{TempDir, assert_same_checkpoints};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use voxflow::data::generators::GenKind;
use voxflow::data::phantom::{PhantomConfig, write_dataset};
use voxflow::eval::inspect::inspect;
use voxflow::models::{BuilderConfig, BuilderKind};
use voxflow::nn::NormKind;
use voxflow::report::tensorboard::read_events;
use voxflow::session::config::TrainConfig;
use voxflow::session::log::Logger;
use voxflow::session::{NewSession, Overrides, new_session};
use voxflow::session::{
    SplitFractions, TrainingHistory, read_checkpoint_info, read_ids_maybe_empty,
};
use voxflow::train::{TrainOptions, train};

/// A small phantom dataset shared by every test of this binary (and its preprocessing cache).
fn data_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| phantom("data", 6))
}

/// Writes a phantom dataset of `n` small scans into a temporary directory named by `tag`.
fn phantom(tag: &str, n: usize) -> PathBuf {
    let dir = TempDir::absent(&format!("e2e-{tag}")).keep();
    let cfg = PhantomConfig {
        n,
        seed: 3,
        subsets: 2,
        grid_scale: 0.3,
        phases: 1,
    };
    write_dataset(&dir, &cfg).expect("phantom dataset");
    dir
}

fn sessions_dir(tag: &str) -> PathBuf {
    TempDir::absent(&format!("e2e-{tag}")).keep()
}

/// Creates a session at 16³ with small networks (the default MariaNet is too heavy for a
/// test) and a few short epochs.
fn make_session(root: &Path, name: &str, builder: BuilderKind, generator: GenKind) {
    make_session_on(data_dir(), root, name, builder, generator);
}

/// [`make_session`] on the phantom dataset in `data`.
fn make_session_on(data: &Path, root: &Path, name: &str, builder: BuilderKind, generator: GenKind) {
    let paths = new_session(
        &NewSession {
            name: name.into(),
            sessions_root: root.to_path_buf(),
            builder,
            generator,
            shape: [16, 16, 16],
            data_dir: Some(data.to_path_buf()),
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
    b.marianet.filters = vec![8, 8, 8];
    b.marianet.dilations = vec![1, 2, 3];
    b.marianet.se_ratio = 4;
    b.marianet.decoder = vec![8, 8];
    b.save(&paths.builder()).unwrap();
    let mut c = TrainConfig::load(&paths.config()).unwrap();
    // MariaNet's affine head is sensitive to the step size; 1e-3 is the SPEC default.
    c.optimizer.lr = if builder == BuilderKind::MariaNet {
        2e-3
    } else {
        3e-3
    };
    c.workers = 1;
    c.save(&paths.config()).unwrap();
}

fn options(root: &Path, name: &str, builder: BuilderKind, generator: GenKind) -> TrainOptions {
    TrainOptions {
        session: name.into(),
        sessions_dir: Some(root.to_path_buf()),
        builder,
        generator,
        weights: None,
        overrides: Overrides::default(),
    }
}

fn series(dir: &Path, key: &str) -> Vec<f64> {
    let h = TrainingHistory::load(&dir.join("training_history.json")).unwrap();
    h.series(key)
        .unwrap_or(&[])
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect()
}

#[test]
fn every_builder_and_generator_trains_and_fills_the_session() {
    let root = sessions_dir("all");
    for builder in [BuilderKind::Unet, BuilderKind::MariaNet] {
        for generator in [
            GenKind::Luna,
            GenKind::LunaSeg,
            GenKind::Atlas,
            GenKind::AtlasSeg,
        ] {
            let name = format!("{builder}-{}", generator.name());
            make_session(&root, &name, builder, generator);
            let mut o = options(&root, &name, builder, generator);
            o.overrides.epochs = Some(3);
            o.overrides.steps_per_epoch = Some(6);
            let s = train(&o).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(s.last_epoch, 3, "{name}");
            let dir = root.join(&name);
            session_files_parse(&dir, &name, 3, generator.uses_masks());
            // Each epoch visits every training pair twice (6 steps), so the epoch means are
            // comparable although pairs are reshuffled.
            let loss = series(&dir, "loss");
            assert_eq!(loss.len(), 3, "{name}");
            assert!(
                loss[2] < loss[0],
                "{name}: training loss did not fall: {loss:?}"
            );
            let dice = series(&dir, "val_dice");
            assert_eq!(dice.len(), 3, "{name}: masks exist, so Dice is measured");
        }
    }
    std::fs::remove_dir_all(&root).unwrap();
}

/// Every file of SPEC section 1 that training writes exists and reads back: the TOML files
/// and id lists, each epoch's checkpoint (checksum and metadata), the history, the TensorBoard
/// events (both CRCs of every record; the scalars and overview image of every epoch), every
/// observation PNG (decoded), and the log's header line.
fn session_files_parse(dir: &Path, name: &str, epochs: u32, masks: bool) {
    BuilderConfig::load(&dir.join("builder.toml")).unwrap();
    let cfg = TrainConfig::load(&dir.join("config.toml")).unwrap();
    assert_eq!(cfg.epochs, epochs, "{name}: the override is written back");
    for set in ["train", "val", "test"] {
        let ids = read_ids_maybe_empty(&dir.join(format!("{set}_ids.csv"))).unwrap();
        assert!(set == "test" || !ids.is_empty(), "{name}: no {set} ids");
    }
    let h = TrainingHistory::load(&dir.join("training_history.json")).unwrap();
    assert_eq!(h.last_epoch(), Some(epochs), "{name}");
    for e in 1..=epochs {
        let ckpt = dir.join(format!("checkpoints/chkpt_{e:02}.safetensors"));
        let info = read_checkpoint_info(&ckpt).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!((info.meta.epoch, info.meta.partial), (e, None), "{name}");
    }
    let tb: Vec<_> = std::fs::read_dir(dir.join("tensorboard"))
        .unwrap()
        .map(|f| f.unwrap().path())
        .collect();
    assert_eq!(tb.len(), 1, "{name}: one event file");
    let events = read_events(&tb[0]).unwrap();
    for e in 1..=epochs as i64 {
        let at: Vec<_> = events.iter().filter(|ev| ev.step == e).collect();
        let tags: Vec<&str> = at
            .iter()
            .flat_map(|ev| ev.scalars.iter().map(|(t, _)| t.as_str()))
            .collect();
        for tag in [
            "loss",
            "val_loss",
            "lr",
            "steps_per_s",
            "val_dice",
            "val_folding_pct",
        ] {
            assert!(
                tags.contains(&tag),
                "{name}: epoch {e} has no scalar {tag}: {tags:?}"
            );
        }
        assert!(
            at.iter()
                .any(|ev| ev.images.iter().any(|i| !i.png.is_empty())),
            "{name}: epoch {e} has no observation image"
        );
    }
    // Every step's loss, once, at the run's global step; an epoch's mean is the history's.
    let step_losses: Vec<(i64, f32)> = events
        .iter()
        .flat_map(|ev| {
            ev.scalars
                .iter()
                .filter(|(t, _)| t == "step/loss")
                .map(|(_, v)| (ev.step, *v))
        })
        .collect();
    let per_epoch = step_losses.len() / epochs as usize;
    assert!(per_epoch > 0, "{name}: no step losses");
    let steps: Vec<i64> = step_losses.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        steps,
        (1..=(per_epoch * epochs as usize) as i64).collect::<Vec<_>>(),
        "{name}: step losses at global steps 1, 2, …"
    );
    for (e, chunk) in step_losses.chunks(per_epoch).enumerate() {
        let mean = chunk.iter().map(|(_, v)| *v as f64).sum::<f64>() / per_epoch as f64;
        let want = series(dir, "loss")[e];
        assert!(
            (mean - want).abs() <= 1e-12 * want.abs(),
            "{name}: epoch {} step losses average {mean}, history says {want}",
            e + 1
        );
    }
    let obs = dir.join(format!("observations/observations_{epochs:02}"));
    let mut pngs = vec![
        "src", "tgt", "pred", "grad_x", "grad_y", "grad_z", "overview",
    ];
    if masks {
        pngs.push("pred_seg");
    }
    for p in pngs {
        let file = std::fs::File::open(obs.join(format!("{p}_{epochs:02}.png")))
            .unwrap_or_else(|e| panic!("{name}: {p}: {e}"));
        let reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap();
        let info = reader.info();
        assert!(info.width > 0 && info.height > 0, "{name}: {p}");
    }
    let log = std::fs::read_to_string(dir.join("logs.txt")).unwrap();
    assert!(
        log.starts_with("=== ") && log.contains("voxflow "),
        "{name}: log header"
    );
}

/// Registration to an atlas beats no registration on the validation masks, for both networks
/// and both atlas generators.
#[test]
fn registration_improves_dice_over_no_registration() {
    let root = sessions_dir("dice");
    for b in [BuilderKind::Unet, BuilderKind::MariaNet] {
        for g in [GenKind::Atlas, GenKind::AtlasSeg] {
            let name = format!("{b}-{}", g.name());
            make_session(&root, &name, b, g);
            let mut o = options(&root, &name, b, g);
            o.overrides.epochs = Some(8);
            train(&o).unwrap();
            let dir = root.join(&name);
            let (after, before) = (series(&dir, "val_dice"), series(&dir, "val_dice_before"));
            assert!(
                after.last().unwrap() > before.last().unwrap(),
                "{name}: val Dice {after:?} vs before {before:?}"
            );
        }
    }
    std::fs::remove_dir_all(&root).unwrap();
}

/// Pairwise registration (`luna`, `luna_seg`) generalizes to pairs of unseen scans: on the
/// validation pairs the warped source masks overlap the target masks better than the
/// unregistered ones, for both networks. Pairs of distinct subjects need more scans and steps
/// than an atlas (16 phantom scans, 8 for training; 800 steps), and 12 validation pairs keep
/// the final Dice from hinging on one pair.
///
/// MariaNet runs with instance norm here: with batch size 1, BatchNorm normalizes each sample
/// by its own statistics in training, so the squeeze-excite and affine heads (fed by global
/// average pools) only ever see per-sample-centred features, while validation (running
/// statistics) feeds them something else; its validation loss then rises while the training
/// loss falls (the trainer warns about this combination). Training itself is the same, since
/// batch-1 BatchNorm computes instance statistics.
#[test]
fn pairwise_registration_improves_dice_on_unseen_pairs() {
    let data = phantom("pairs-data", 16);
    let root = sessions_dir("pairs");
    for b in [BuilderKind::Unet, BuilderKind::MariaNet] {
        for g in [GenKind::Luna, GenKind::LunaSeg] {
            let name = format!("{b}-{}", g.name());
            make_session_on(&data, &root, &name, b, g);
            let dir = root.join(&name);
            let mut c = TrainConfig::load(&dir.join("config.toml")).unwrap();
            c.validation_steps = 12;
            if b == BuilderKind::MariaNet {
                c.optimizer.lr = 1e-3;
                let mut bc = BuilderConfig::load(&dir.join("builder.toml")).unwrap();
                bc.norm = NormKind::Instance;
                bc.save(&dir.join("builder.toml")).unwrap();
            }
            c.save(&dir.join("config.toml")).unwrap();
            let mut o = options(&root, &name, b, g);
            o.overrides.epochs = Some(20);
            o.overrides.steps_per_epoch = Some(40);
            train(&o).unwrap();
            let (after, before) = (series(&dir, "val_dice"), series(&dir, "val_dice_before"));
            let (a, b) = (*after.last().unwrap(), *before.last().unwrap());
            assert!(
                a > b + 0.02,
                "{name}: val Dice {a:.4} vs {b:.4} before registration ({after:?})"
            );
        }
    }
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::remove_dir_all(&data).unwrap();
}

/// The steps of every event holding `tag` in the session's TensorBoard files, sorted.
fn tb_steps(session: &Path, tag: &str) -> Vec<i64> {
    let mut steps = Vec::new();
    for f in std::fs::read_dir(session.join("tensorboard")).unwrap() {
        for ev in read_events(&f.unwrap().path()).unwrap() {
            if ev.scalars.iter().any(|(t, _)| t == tag) {
                steps.push(ev.step);
            }
        }
    }
    steps.sort();
    steps
}

#[test]
fn resumed_run_equals_uninterrupted_run_bitwise() {
    let root = sessions_dir("resume");
    let (b, g) = (BuilderKind::Unet, GenKind::Luna);
    for name in ["straight", "resumed"] {
        make_session(&root, name, b, g);
    }
    let mut o = options(&root, "straight", b, g);
    o.overrides.epochs = Some(4);
    train(&o).unwrap();
    let mut o = options(&root, "resumed", b, g);
    o.overrides.epochs = Some(2);
    train(&o).unwrap();
    // A fresh run over existing checkpoints is refused, nothing is overwritten.
    o.overrides.epochs = Some(4);
    let e = train(&o).unwrap_err().to_string();
    assert!(e.contains("--weights chkpt_02.safetensors"), "{e}");
    let cfg = TrainConfig::load(&root.join("resumed/config.toml")).unwrap();
    assert_eq!(cfg.epochs, 2, "a refused run changes nothing");
    o.weights = Some("chkpt_02.safetensors".into());
    train(&o).unwrap();
    let ckpt = |name: &str| root.join(name).join("checkpoints/chkpt_04.safetensors");
    assert_same_checkpoints(&ckpt("straight"), &ckpt("resumed"), "resumed run");
    let hist = |name: &str| {
        std::fs::read_to_string(root.join(name).join("training_history.json")).unwrap()
    };
    assert_eq!(hist("straight"), hist("resumed"));
    // Resuming from an earlier checkpoint once the later ones are deleted: the run trains
    // epochs 3-4 again, to the same weights, and TensorBoard holds each step once.
    let straight = root.join("straight");
    let steps = tb_steps(&straight, "step/loss").len();
    let kept = std::fs::read(ckpt("straight")).unwrap();
    for e in [3, 4] {
        std::fs::remove_file(straight.join(format!("checkpoints/chkpt_{e:02}.safetensors")))
            .unwrap();
    }
    let mut again = options(&root, "straight", b, g);
    again.weights = Some("chkpt_02.safetensors".into());
    train(&again).unwrap();
    assert_eq!(std::fs::read(ckpt("straight")).unwrap(), kept);
    assert_eq!(tb_steps(&straight, "loss"), [1, 2, 3, 4]);
    let want: Vec<i64> = (1..=steps as i64).collect();
    assert_eq!(tb_steps(&straight, "step/loss"), want);
    let log = std::fs::read_to_string(straight.join("logs.txt")).unwrap();
    assert!(
        log.contains("tensorboard: dropped ") && log.contains("past epoch 2, step"),
        "{log}"
    );
    // A checkpoint of another builder (copied into the session) is refused with the reason.
    make_session(&root, "other", BuilderKind::MariaNet, g);
    let mut o = options(&root, "other", BuilderKind::MariaNet, g);
    let foreign = root.join("other/checkpoints/chkpt_04.safetensors");
    std::fs::create_dir_all(foreign.parent().unwrap()).unwrap();
    std::fs::copy(ckpt("straight"), &foreign).unwrap();
    o.weights = Some("chkpt_04.safetensors".into());
    let e = train(&o).unwrap_err().to_string();
    assert!(e.contains("different builder"), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}

/// A dataset of six 8³ scans (`scan0` … `scan5`) at 4 mm in a fresh directory, with a NaN
/// voxel in each when `nan`, and lung masks labelled by `mask` (scan number, voxel index).
fn tiny_dataset(tag: &str, nan: bool, mask: Option<fn(usize, usize) -> f32>) -> PathBuf {
    use voxflow::data::Volume;
    use voxflow::data::io::metaimage::{ElementType, write};
    let data = TempDir::absent(&format!("e2e-{tag}-data")).keep();
    std::fs::create_dir_all(data.join("subset0")).unwrap();
    std::fs::create_dir_all(data.join("seg-lungs-LUNA16")).unwrap();
    let volume = |v: Vec<f32>| {
        let mut vol = Volume::new(v, [8, 8, 8], Path::new("x")).unwrap();
        vol.spacing = [4.0, 4.0, 4.0];
        vol
    };
    for k in 0..6 {
        let mut v: Vec<f32> = (0..8 * 8 * 8)
            .map(|i| ((i * (k + 3)) % 17) as f32)
            .collect();
        if nan {
            v[100 + k] = f32::NAN; // corrupt scans: every loss they enter is NaN
        }
        let file = format!("scan{k}.mhd");
        write(
            &data.join("subset0").join(&file),
            &volume(v),
            ElementType::F32,
            false,
        )
        .unwrap();
        if let Some(label) = mask {
            let m = volume((0..8 * 8 * 8).map(|i| label(k, i)).collect());
            write(
                &data.join("seg-lungs-LUNA16").join(&file),
                &m,
                ElementType::U8,
                false,
            )
            .unwrap();
        }
    }
    data
}

/// Creates the session `name` on `data` (U-Net, generator `g`, 8³, half training, half
/// validation) and trains it for 3 epochs: the error.
fn train_tiny(data: &Path, root: &Path, name: &str, g: GenKind) -> String {
    new_session(
        &NewSession {
            name: name.into(),
            sessions_root: root.to_path_buf(),
            builder: BuilderKind::Unet,
            generator: g,
            shape: [8, 8, 8],
            data_dir: Some(data.to_path_buf()),
            split: SplitFractions::new(0.5, 0.5, 0.0).unwrap(),
            seed: 1,
            atlas: None,
            force: false,
        },
        &mut Logger::console(),
    )
    .unwrap();
    let mut o = options(root, name, BuilderKind::Unet, g);
    o.overrides.epochs = Some(3);
    train(&o).unwrap_err().to_string()
}

#[test]
fn scans_with_nan_voxels_are_refused_naming_the_file() {
    let data = tiny_dataset("nan", true, None);
    let root = sessions_dir("nan");
    let e = train_tiny(&data, &root, "nan", GenKind::Luna);
    assert!(
        e.contains(".mhd") && e.contains("1 voxel is NaN or infinite"),
        "{e}"
    );
    assert!(!root.join("nan/checkpoints/chkpt_01.safetensors").exists());
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::remove_dir_all(&data).unwrap();
}

/// A validation scan's mask that exists but is unusable (here binary 0/1, without LUNA16's
/// lung labels) stops the run before training, naming it; the validation Dice is not quietly
/// left out. So does the atlas's, the target of every atlas validation pair, though the
/// atlas is a training scan.
#[test]
fn an_unusable_validation_mask_is_an_error_naming_it_before_training() {
    let data = tiny_dataset("binmask", false, Some(|_, i| f32::from(i % 8 < 4)));
    let root = sessions_dir("binmask");
    let e = train_tiny(&data, &root, "binmask", GenKind::Luna);
    assert!(
        e.contains("seg-lungs-LUNA16") && e.contains("labelled 3 or 4"),
        "{e}"
    );
    // Before training: no step was run.
    assert!(tb_steps(&root.join("binmask"), "step/loss").is_empty());
    std::fs::remove_dir_all(&data).unwrap();
    // Only the atlas (scan0, the first id) has a bad mask.
    let data = tiny_dataset(
        "atlasmask",
        false,
        Some(|k, i| {
            if k == 0 {
                f32::from(i % 8 < 4)
            } else {
                3.0 * f32::from(i % 8 < 4)
            }
        }),
    );
    let e = train_tiny(&data, &root, "atlas", GenKind::Atlas);
    let train_ids = std::fs::read_to_string(root.join("atlas/train_ids.csv")).unwrap();
    assert!(train_ids.contains("scan0"), "the atlas trains: {train_ids}");
    assert!(
        e.contains("scan0.mhd") && e.contains("labelled 3 or 4"),
        "{e}"
    );
    assert!(tb_steps(&root.join("atlas"), "step/loss").is_empty());
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::remove_dir_all(&data).unwrap();
}

#[test]
fn a_diverging_run_stops_at_the_first_non_finite_loss_and_keeps_the_last_checkpoint() {
    let root = sessions_dir("diverge");
    make_session(&root, "d", BuilderKind::Unet, GenKind::Atlas);
    let mut o = options(&root, "d", BuilderKind::Unet, GenKind::Atlas);
    o.overrides.epochs = Some(1);
    o.overrides.steps_per_epoch = Some(3);
    train(&o).unwrap();
    let ckpt = |e: u32| root.join(format!("d/checkpoints/chkpt_{e:02}.safetensors"));
    let good = std::fs::read(ckpt(1)).unwrap();
    // Resume with an absurd step size: the first update blows the weights up, and the next
    // step's loss is no longer finite.
    let config = root.join("d/config.toml");
    let mut c = TrainConfig::load(&config).unwrap();
    c.optimizer.lr = 1e30;
    c.save(&config).unwrap();
    o.overrides.epochs = Some(3);
    o.weights = Some(ckpt(1));
    let e = train(&o).unwrap_err().to_string();
    assert!(
        e.starts_with("epoch 2, step ")
            && e.contains("loss term")
            && e.contains("training stopped"),
        "{e}"
    );
    let step: usize = e["epoch 2, step ".len()..]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(step >= 2, "the step from the good weights is finite ({e})");
    assert_eq!(
        std::fs::read(ckpt(1)).unwrap(),
        good,
        "the last good checkpoint is kept"
    );
    assert!(!ckpt(2).exists(), "no checkpoint of the diverged epoch");
    // Nor TensorBoard points: a resume from chkpt_01 will write epoch 2's steps afresh.
    assert_eq!(
        tb_steps(&root.join("d"), "step/loss"),
        [1, 2, 3],
        "only epoch 1's steps"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_session_records_its_data_and_its_log_holds_everything_the_run_printed() {
    // No data directory anywhere: `train` creates the session on the phantom dataset.
    if std::env::var_os("VOXFLOW_DATA").is_some_and(|v| !v.is_empty()) {
        eprintln!("skipping: VOXFLOW_DATA is set, so there is no phantom fallback to test");
        return;
    }
    let root = sessions_dir("record");
    let (b, g) = (BuilderKind::Unet, GenKind::Atlas);
    let mut o = options(&root, "s", b, g);
    o.overrides.epochs = Some(1);
    o.overrides.steps_per_epoch = Some(2);
    o.overrides.shape = Some([16, 16, 16]);
    train(&o).unwrap();
    let config = root.join("s/config.toml");
    let phantom = std::path::absolute(root.join("_phantom")).unwrap();
    let cfg = TrainConfig::load(&config).unwrap();
    assert_eq!(cfg.data_dir.as_deref(), Some(phantom.as_path()));
    let log = std::fs::read_to_string(root.join("s/logs.txt")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines[0].starts_with("=== "), "{log}");
    assert!(
        lines[1].starts_with("no data directory given: generated the phantom dataset"),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("created session")),
        "{log}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("done: trained through epoch 1 in "),
        "{log}"
    );

    // A run that fails before training changes nothing: a bad observation id stops it before
    // the first step (no chkpt_02), with the error in the log too, and config.toml stays as
    // it was although the run had overrides.
    let mut cfg = TrainConfig::load(&config).unwrap();
    cfg.data_dir = None;
    cfg.observation_ids = Some(["nope1".into(), "nope2".into()]);
    cfg.save(&config).unwrap();
    let before = std::fs::read_to_string(&config).unwrap();
    o.weights = Some("chkpt_01.safetensors".into());
    o.overrides.epochs = Some(2);
    o.overrides.seed = Some(cfg.seed);
    o.overrides.shape = Some([24, 24, 24]);
    let e = train(&o).unwrap_err().to_string();
    assert!(
        e.contains("config.toml: observation_ids") && e.contains("nope1"),
        "{e}"
    );
    assert!(!root.join("s/checkpoints/chkpt_02.safetensors").exists());
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
    let log = std::fs::read_to_string(root.join("s/logs.txt")).unwrap();
    let run2 = &log[log.rfind("=== ").unwrap()..];
    let last = run2.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("Error: ") && last.contains("nope1"),
        "{run2}"
    );

    // Fixed, the run records what it ran with: the overrides (an unchanged one is printed too)
    // and, for a hand-written config.toml without data_dir, the directory it used.
    let mut cfg = TrainConfig::load(&config).unwrap();
    cfg.observation_ids = None;
    cfg.save(&config).unwrap();
    train(&o).unwrap();
    let cfg = TrainConfig::load(&config).unwrap();
    assert_eq!(cfg.data_dir.as_deref(), Some(phantom.as_path()));
    assert_eq!((cfg.epochs, cfg.shape), (2, [24, 24, 24]));
    let log = std::fs::read_to_string(root.join("s/logs.txt")).unwrap();
    let run3 = &log[log.rfind("=== ").unwrap()..];
    assert!(
        run3.contains(&format!("seed = {} (as before)", cfg.seed))
            && run3.contains("epochs = 2")
            && run3.contains("data_dir = "),
        "{run3}"
    );
    assert!(
        run3.contains(
            "note: training on config.toml's grid [24, 24, 24]; builder.toml's input_shape \
             [16, 16, 16] is only the size"
        ),
        "{run3}"
    );
    // `voxflow inspect`: a session shows its training grid, a builder file its nominal input.
    let shown = inspect(&root.join("s"), None).unwrap();
    assert!(
        shown.contains("grid 24x24x24") && !shown.contains("nominal input"),
        "{shown}"
    );
    let shown = inspect(&root.join("s/builder.toml"), None).unwrap();
    assert!(shown.contains("nominal input 16x16x16"), "{shown}");

    // An override that makes the configuration invalid is named as the command line's.
    let mut zero = o.clone();
    zero.overrides.epochs = Some(0);
    let e = train(&zero).unwrap_err().to_string();
    assert!(
        e.contains("with the command line's epochs = 0") && e.contains("at least 1"),
        "{e}"
    );
    // An id list naming a scan the data lacks: the error names the list.
    let list = root.join("s/train_ids.csv");
    let ids = std::fs::read_to_string(&list).unwrap();
    std::fs::write(&list, format!("{ids}nope3\n")).unwrap();
    let mut on = o.clone();
    on.weights = Some("chkpt_02.safetensors".into());
    on.overrides.epochs = Some(3);
    let e = train(&on).unwrap_err().to_string();
    assert!(e.contains("train_ids.csv: unknown scan id nope3"), "{e}");
    std::fs::write(&list, ids).unwrap();
    // Resuming protects the session: not from an earlier checkpoint over later ones, not from
    // another session's checkpoint, not with nothing left to train.
    let e = train(&o).unwrap_err().to_string();
    assert!(
        e.contains("resuming from epoch 1 would overwrite them"),
        "{e}"
    );
    // A session another run is changing: a second run stops before touching it.
    let paths = voxflow::session::SessionPaths::new(&root, "s").unwrap();
    let held = voxflow::session::lock::SessionLock::acquire(&paths, "train").unwrap();
    let mut second = o.clone();
    second.weights = Some("chkpt_02.safetensors".into());
    second.overrides.epochs = Some(3);
    let e = train(&second).unwrap_err().to_string();
    assert!(e.contains("session s is being changed by `train`"), "{e}");
    drop(held);
    // A checkpoint copied under another epoch's name is refused as such.
    let ck = |e: u32| root.join(format!("s/checkpoints/chkpt_{e:02}.safetensors"));
    std::fs::copy(ck(1), ck(5)).unwrap();
    let mut renamed = o.clone();
    renamed.weights = Some("chkpt_05.safetensors".into());
    renamed.overrides.epochs = Some(6);
    let e = train(&renamed).unwrap_err().to_string();
    assert!(
        e.contains("holds epoch 1 although its name says epoch 5"),
        "{e}"
    );
    std::fs::remove_file(ck(5)).unwrap();
    // A directory where the run will write a checkpoint is refused before training.
    std::fs::create_dir(ck(3)).unwrap();
    let mut blocked = o.clone();
    blocked.weights = Some("chkpt_02.safetensors".into());
    blocked.overrides.epochs = Some(3);
    let e = train(&blocked).unwrap_err().to_string();
    assert!(e.contains("chkpt_03.safetensors is in the way"), "{e}");
    std::fs::remove_dir(ck(3)).unwrap();
    // Resuming without the history says what is lost.
    let history = root.join("s/training_history.json");
    let kept = std::fs::read(&history).unwrap();
    let config_kept = std::fs::read(root.join("s/config.toml")).unwrap();
    std::fs::remove_file(&history).unwrap();
    let mut lost = o.clone();
    lost.weights = Some("chkpt_02.safetensors".into());
    lost.overrides.epochs = Some(3);
    lost.overrides.seed = Some(5);
    lost.overrides.shape = Some([16; 3]);
    // A damaged cache entry of the first run's grid: rebuilt, and the log says so.
    let cache = root.join("_phantom/.voxflow-cache");
    let entry = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(".image.16x16x16."))
        .expect("a 16³ image entry");
    let mut bytes = std::fs::read(&entry).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&entry, bytes).unwrap();
    train(&lost).unwrap();
    let log = std::fs::read_to_string(root.join("s/logs.txt")).unwrap();
    let run = &log[log.rfind("=== ").unwrap()..];
    assert!(
        run.contains(&format!("image: rebuilt cache entry {}", entry.display()))
            && run.contains("volumes from the cache, 1 built)"),
        "{run}"
    );
    assert!(
        run.contains("warning: a new seed on resume")
            && run.contains("warning: a new grid on resume")
            && run.contains("steps per epoch; validation on the first 1 of the"),
        "{run}"
    );
    assert!(
        log.contains("training_history.json holds no epochs (missing, or older than the checkpoint): epochs 1..2 stay out of the history"),
        "{log}"
    );
    std::fs::write(&history, kept).unwrap();
    std::fs::write(root.join("s/config.toml"), config_kept).unwrap();
    std::fs::remove_file(ck(3)).unwrap();
    o.weights = Some("chkpt_02.safetensors".into());
    let e = train(&o).unwrap_err().to_string();
    assert!(
        e.contains("nothing to train") && e.contains("--epochs N with N > 2"),
        "{e}"
    );
    make_session(&root, "other", b, g);
    let mut other = options(&root, "other", b, g);
    other.weights = Some(root.join("s/checkpoints/chkpt_02.safetensors"));
    let e = train(&other).unwrap_err().to_string();
    assert!(e.contains("is not a checkpoint of session other"), "{e}");
    // builder.toml's use_segmentation must agree with the generator.
    let mut bcfg = BuilderConfig::load(&root.join("other/builder.toml")).unwrap();
    bcfg.use_segmentation = true;
    bcfg.save(&root.join("other/builder.toml")).unwrap();
    let e = train(&options(&root, "other", b, g))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("builder.toml: use_segmentation = true, but --gen atlas has no lung masks"),
        "{e}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn voxflow_new_refuses_a_split_or_atlas_that_cannot_train() {
    let root = sessions_dir("new-checks");
    let opts = |split: SplitFractions, generator: GenKind, atlas: Option<String>| NewSession {
        name: "s".into(),
        sessions_root: root.clone(),
        builder: BuilderKind::Unet,
        generator,
        shape: [16, 16, 16],
        data_dir: Some(data_dir().to_path_buf()),
        split,
        seed: 5,
        atlas,
        force: false,
    };
    let all_train = SplitFractions::new(1.0, 0.0, 0.0).unwrap();
    let e = new_session(
        &opts(all_train, GenKind::Luna, None),
        &mut Logger::console(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("--split 1,0,0 of 6 scans leaves the validation set 0 scans"),
        "{e}"
    );
    let e = new_session(
        &opts(
            SplitFractions::new(0.5, 0.34, 0.16).unwrap(),
            GenKind::Luna,
            Some("x".into()),
        ),
        &mut Logger::console(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("--atlas applies to the atlas generators"), "{e}");
    assert!(!root.join("s").exists(), "nothing written");
    // `train` refuses a bad session name before generating the phantom dataset.
    let bad = options(&root, "../x", BuilderKind::Unet, GenKind::Atlas);
    assert!(train(&bad).is_err());
    assert!(!root.join("_phantom").exists());
    let _ = std::fs::remove_dir_all(&root);
}
