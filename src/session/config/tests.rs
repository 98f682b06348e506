use super::*;
use crate::configfile::parse_toml;

fn p() -> &'static Path {
    Path::new("sessions/demo/config.toml")
}

/// Parses `text` as config.toml and validates it; the error text.
fn err(text: &str) -> String {
    match parse_toml::<TrainConfig>(text, p()).and_then(|c| c.validate(p()).map(|_| c)) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn roundtrip(c: &TrainConfig) -> TrainConfig {
    parse_toml::<TrainConfig>(&c.to_toml(), p()).unwrap()
}

#[test]
fn defaults_follow_the_spec() {
    let c = TrainConfig::defaults(BuilderKind::Unet, GenKind::Luna);
    let terms: Vec<_> = c
        .losses
        .iter()
        .map(|t| (t.output, t.loss, t.weight))
        .collect();
    assert_eq!(
        terms,
        [
            (OutputName::Deformed, LossName::Mse, 1.0),
            (OutputName::Gradient, LossName::Mae, 1e-5)
        ]
    );
    assert_eq!(
        (c.epochs, c.batch_size, c.seed, c.workers, c.prefetch),
        (200, 1, 777, 2, 4)
    );
    assert_eq!(c.l1_kernel, 1e-5);
    assert_eq!(c.adam(), AdamConfig::default());
    assert_eq!(c.adam().eps, 1e-7);
    assert_eq!(
        c.early_stopping,
        EarlyStopping {
            monitor: Monitor::Loss,
            min_delta: 1e-3,
            patience: 20
        }
    );
    assert_eq!((c.steps(30), c.val_steps(30), c.val_steps(4)), (30, 6, 1));
    c.validate(p()).unwrap();

    let m = TrainConfig::defaults(BuilderKind::MariaNet, GenKind::LunaSeg);
    let outs: Vec<_> = m
        .losses
        .iter()
        .map(|t| (t.output, t.loss, t.weight))
        .collect();
    assert_eq!(outs[2], (OutputName::Linear, LossName::Mse, 1e-2));
    assert_eq!(outs[3], (OutputName::DeformedSeg, LossName::Dice, 0.1));
    m.validate(p()).unwrap();
    m.check_builder(BuilderKind::MariaNet, p()).unwrap();
    let e = m
        .check_builder(BuilderKind::Unet, p())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("config.toml") && e.contains("losses[2].output") && e.contains("marianet"),
        "{e}"
    );

    // Atlas generators need the atlas id.
    let a = TrainConfig::defaults(BuilderKind::Unet, GenKind::Atlas);
    let e = a.validate(p()).unwrap_err().to_string();
    assert!(e.contains("config.toml") && e.contains("atlas_id"), "{e}");
}

#[test]
fn commented_file_parses_back_identically() {
    let c = TrainConfig::defaults(BuilderKind::Unet, GenKind::Luna);
    let text = c.to_toml();
    assert!(text.contains("# Number of epochs.\nepochs = 200"), "{text}");
    assert!(
        text.contains("# atlas_id = "),
        "unset optional keys are shown commented out"
    );
    assert_eq!(roundtrip(&c), c);

    // Every field away from its default, odd strings and odd floats.
    let mut m = TrainConfig::defaults(BuilderKind::MariaNet, GenKind::AtlasSeg);
    m.shape = [48, 96, 80];
    m.data_dir = Some(PathBuf::from("/data/my \"luna\"\\ set"));
    m.atlas_id = Some("1.3.6.1.4.1.14519.5.2.1.6279.6001.105756658031515062000744821260".into());
    m.observation_ids = Some(["a\tb".into(), "c#d".into()]);
    m.l1_kernel = 3.3e-7;
    m.epochs = 7;
    m.steps_per_epoch = 11;
    m.validation_steps = 3;
    m.batch_size = 2;
    m.seed = u64::MAX;
    m.device = DeviceChoice::Cuda;
    m.gpu_id = 3;
    m.workers = 5;
    m.prefetch = 9;
    m.optimizer = OptimizerConfig {
        lr: 0.1 + 0.2,
        beta1: 0.85,
        beta2: 0.9999,
        eps: 1.17e-38,
        decay: 0.0,
    };
    m.early_stopping = EarlyStopping {
        monitor: Monitor::ValLoss,
        min_delta: 0.1 + 0.2,
        patience: 0,
    };
    m.losses[0].weight = 1.0 / 3.0;
    m.losses.push(LossTerm {
        output: OutputName::Deformed,
        loss: LossName::Lncc,
        weight: 12345.678,
    });
    m.validate(p()).unwrap();
    let back = roundtrip(&m);
    assert_eq!(back, m);
    assert_eq!(back.optimizer.lr.to_bits(), m.optimizer.lr.to_bits());
}

#[test]
fn save_and_load_through_a_file() {
    let dir = std::env::temp_dir().join(format!("voxflow-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    let mut c = TrainConfig::defaults(BuilderKind::Unet, GenKind::LunaSeg);
    c.epochs = 3;
    c.save(&path).unwrap();
    assert_eq!(TrainConfig::load(&path).unwrap(), c);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["config.toml"], "no temporary file left");
    // An invalid configuration is not written.
    c.epochs = 0;
    let e = c.save(&path).unwrap_err().to_string();
    assert!(e.contains("epochs"), "{e}");
    assert_eq!(TrainConfig::load(&path).unwrap().epochs, 3);
    let e = TrainConfig::load(&dir.join("missing.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.toml"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

const MINIMAL: &str = "format_version = 1\ngenerator = \"luna\"\nshape = [8, 8, 8]\n\
    [[losses]]\noutput = \"deformed\"\nloss = \"mse\"\nweight = 1\n";

#[test]
fn left_out_keys_take_the_defaults() {
    let c: TrainConfig = parse_toml(MINIMAL, p()).unwrap();
    c.validate(p()).unwrap();
    assert_eq!(
        (c.epochs, c.seed, c.workers, c.prefetch, c.batch_size),
        (200, 777, 2, 4, 1)
    );
    assert_eq!(c.optimizer, OptimizerConfig::default());
    assert_eq!(
        c.losses[0].weight, 1.0,
        "an integer weight reads as a float"
    );
    let e = err(
        "generator = \"luna\"\nshape = [8, 8, 8]\n[[losses]]\noutput = \"deformed\"\nloss = \"mse\"\nweight = 1\n",
    );
    assert!(e.contains("format_version"), "{e}");
}

#[test]
fn bad_values_name_the_file_and_the_key() {
    let with = |old: &str, new: &str| {
        assert!(MINIMAL.contains(old), "{old}");
        MINIMAL.replacen(old, new, 1)
    };
    let cases: Vec<(String, &[&str])> = vec![
        (format!("{MINIMAL}epohcs = 3\n"), &["epohcs"]),
        (
            with("shape = [8, 8, 8]", "shape = [8, 8, 8]\nepochs = \"ten\""),
            &["epochs", "integer"],
        ),
        (
            with("shape = [8, 8, 8]", "shape = [8, 8, 8]\nepochs = 0"),
            &["epochs", "at least 1"],
        ),
        (
            with("shape = [8, 8, 8]", "shape = [8, 0, 8]"),
            &["shape", "dimension 1"],
        ),
        (with("shape = [8, 8, 8]", "shape = [8, 8]"), &["shape", "3"]),
        (with("shape = [8, 8, 8]", "shape = [8, -8, 8]"), &["shape"]),
        (with("\"luna\"", "\"lunar\""), &["generator", "lunar"]),
        (
            with("format_version = 1", "format_version = 2"),
            &["format_version = 2"],
        ),
        (
            with("weight = 1", "weight = -0.5"),
            &["losses[0]", "weight", "-0.5"],
        ),
        (with("weight = 1", "weight = nan"), &["losses[0]", "weight"]),
        (
            with("weight = 1", "weight = 0"),
            &["losses", "every weight is 0"],
        ),
        (with("\"deformed\"", "\"deformd\""), &["output", "deformd"]),
        (with("\"mse\"", "\"dice\""), &["losses[0].loss", "dice"]),
        (with("weight = 1", "weight = 1\nextra = 2"), &["extra"]),
        (
            with("\"deformed\"", "\"deformed_seg\""),
            &["losses[0].output", "_seg"],
        ),
        (
            format!("{MINIMAL}[[losses]]\noutput = \"deformed\"\nloss = \"mse\"\nweight = 2\n"),
            &["losses[1]", "losses[0]"],
        ),
        (format!("{MINIMAL}[optimizer]\nlr = 0\n"), &["optimizer.lr"]),
        (
            format!("{MINIMAL}[optimizer]\nlr = -1e-3\n"),
            &["optimizer.lr"],
        ),
        (
            format!("{MINIMAL}[optimizer]\nbeta2 = 1.0\n"),
            &["optimizer.beta2"],
        ),
        (
            format!("{MINIMAL}[optimizer]\nmomentum = 0.9\n"),
            &["momentum"],
        ),
        (
            format!("{MINIMAL}[early_stopping]\nmonitor = \"acc\"\n"),
            &["monitor", "acc"],
        ),
        (
            format!("{MINIMAL}[early_stopping]\nmin_delta = -1.0\n"),
            &["early_stopping.min_delta"],
        ),
        (
            with("shape = [8, 8, 8]", "shape = [8, 8, 8]\nl1_kernel = inf"),
            &["l1_kernel"],
        ),
        (
            with("shape = [8, 8, 8]", "shape = [8, 8, 8]\nworkers = 0"),
            &["workers"],
        ),
        (
            with("shape = [8, 8, 8]", "shape = [8, 8, 8]\nworkers = 100000"),
            &["workers", "at most 256"],
        ),
        (
            with("shape = [8, 8, 8]", "shape = [100000, 100000, 100000]"),
            &["shape", "more than 1073741824 voxels"],
        ),
        (
            with("shape = [8, 8, 8]", "shape = [1, 8, 8, 8]"),
            &["shape", "invalid length 4, expected a list of 3"],
        ),
        (
            with(
                "shape = [8, 8, 8]",
                "shape = [8, 8, 8]\nobservation_ids = [\"a\", \"b\", \"typo\"]",
            ),
            &["observation_ids", "invalid length 3"],
        ),
        (
            with("shape = [8, 8, 8]", "shape = [8, 8, 8]\ndevice = \"tpu\""),
            &["device", "tpu"],
        ),
        (
            with(
                "shape = [8, 8, 8]",
                "shape = [8, 8, 8]\nobservation_ids = [\"a\", \"a\"]",
            ),
            &["observation_ids", "distinct"],
        ),
        (
            with("shape = [8, 8, 8]", "shape = [8, 8, 8]\natlas_id = \" \""),
            &["atlas_id", "empty"],
        ),
        (
            with("\"luna\"", "\"atlas\""),
            &["atlas_id", "needs an atlas"],
        ),
    ];
    for (text, needles) in cases {
        let e = err(&text);
        assert!(e.contains("config.toml"), "{e}\n--- for ---\n{text}");
        for n in needles {
            assert!(e.contains(n), "missing {n:?} in: {e}\n--- for ---\n{text}");
        }
    }
}

#[test]
fn save_keys_changes_only_those_keys_and_keeps_the_users_comments() {
    let dir = crate::testutil::TempDir::new("config-save-keys");
    let path = dir.0.join("config.toml");
    let mut c = TrainConfig::defaults(BuilderKind::Unet, GenKind::Luna);
    c.shape = [8, 8, 8];
    // A hand-edited file: comments after values and on lines of their own, keys moved, a
    // multi-line list, no data_dir.
    let text = c
        .to_toml()
        .replace("lr = 0.001", "lr = 0.0005  # halved after divergence")
        .replace("epochs = 200", "# my note\nepochs    =   200   # long run")
        .replace("shape = [8, 8, 8]", "shape = [\n  8,\n  8,\n  8,\n]");
    std::fs::write(&path, &text).unwrap();
    let mut want = parse_toml::<TrainConfig>(&text, &path).unwrap();
    want.epochs = 3;
    want.seed = 5;
    want.shape = [16, 16, 8];
    want.data_dir = Some("/data/LUNA16".into());
    want.save_keys(&path, &["epochs", "seed", "shape", "data_dir"])
        .unwrap();
    let got = std::fs::read_to_string(&path).unwrap();
    assert_eq!(TrainConfig::load(&path).unwrap(), want);
    for kept in [
        "lr = 0.0005  # halved after divergence",
        "# my note\nepochs    =   3   # long run",
        "seed = 5\n",
        "shape = [16, 16, 8]\n",
    ] {
        assert!(got.contains(kept), "lacks {kept:?}:\n{got}");
    }
    // The missing key went under its commented-out example, once.
    assert!(
        got.contains("# data_dir = \"/data/luna16\"\ndata_dir = \"/data/LUNA16\"\n\n"),
        "{got}"
    );
    assert_eq!(got.matches("\ndata_dir =").count(), 1, "{got}");
    // Apart from the edited values, the file is as the user wrote it.
    let mut restored = want.clone();
    restored.epochs = 200;
    restored.seed = 777;
    restored.shape = [8, 8, 8];
    restored.data_dir = None;
    assert_eq!(
        got.replace("epochs    =   3", "epochs    =   200")
            .replace("seed = 5", "seed = 777")
            .replace("shape = [16, 16, 8]", "shape = [\n  8,\n  8,\n  8,\n]")
            .replace("data_dir = \"/data/LUNA16\"\n", ""),
        text
    );
    // Without the example line, a missing key goes before the first table.
    let bare = text.replace("# data_dir = \"/data/luna16\"\n", "");
    std::fs::write(&path, &bare).unwrap();
    let mut with_data = parse_toml::<TrainConfig>(&bare, &path).unwrap();
    with_data.data_dir = Some("/data/LUNA16".into());
    with_data.save_keys(&path, &["data_dir"]).unwrap();
    let got = std::fs::read_to_string(&path).unwrap();
    let line = "data_dir = \"/data/LUNA16\"\n\n";
    assert!(
        got.contains(&format!("\n{line}# Adam with Keras time decay")),
        "above the table's own comment: {got}"
    );
    assert_eq!(got.replacen(line, "", 1), bare, "only the line added");

    // A file with Windows line endings keeps them, on the added line too.
    let crlf = bare.replace('\n', "\r\n");
    std::fs::write(&path, &crlf).unwrap();
    with_data.save_keys(&path, &["data_dir"]).unwrap();
    let got = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        got.replacen("data_dir = \"/data/LUNA16\"\r\n\r\n", "", 1),
        crlf
    );
    assert_eq!(TrainConfig::load(&path).unwrap(), with_data);
    // A file that is not TOML any more is written whole, from the configuration.
    std::fs::write(&path, "epochs = = 1").unwrap();
    want.save_keys(&path, &["epochs"]).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), want.to_toml());
}
