//! builder.toml: defaults, the commented file's round trip, and errors naming file and key.

use crate::models::{BuilderConfig, BuilderKind};
use crate::nn::NormKind;
use crate::ops::Padding;
use crate::testutil::TempDir;
use std::path::Path;

const FILE: &str = "sessions/demo/builder.toml";

fn parse(text: &str) -> Result<BuilderConfig, String> {
    BuilderConfig::from_toml(text, Path::new(FILE)).map_err(|e| e.to_string())
}

/// A non-default configuration touching every field.
fn custom() -> BuilderConfig {
    let mut c = BuilderConfig::defaults(BuilderKind::MariaNet);
    c.input_shape = [40, 48, 56];
    c.norm = NormKind::Instance;
    c.padding = Padding::Zeros;
    c.use_segmentation = true;
    c.unet.enc_nf = vec![8, 16];
    c.unet.dec_nf = vec![16, 8, 8, 4];
    c.marianet.filters = vec![8, 8, 16];
    c.marianet.dilations = vec![1, 2, 4];
    c.marianet.se_ratio = 4;
    c.marianet.decoder = vec![16, 8];
    c
}

#[test]
fn defaults_follow_the_spec() {
    let u = BuilderConfig::defaults(BuilderKind::Unet);
    assert_eq!(u.format_version, 1);
    assert_eq!(u.input_shape, [256, 256, 256]);
    assert_eq!(
        (u.norm, u.padding, u.use_segmentation),
        (NormKind::Batch, Padding::Border, false)
    );
    assert_eq!(u.unet.enc_nf, [16, 32, 32, 32]);
    assert_eq!(u.unet.dec_nf, [32, 32, 32, 32, 16, 16]);
    let m = BuilderConfig::defaults(BuilderKind::MariaNet);
    assert_eq!(m.input_shape, [64, 64, 64]);
    assert_eq!(m.marianet.filters, [32, 64, 128, 32, 32]);
    assert_eq!(m.marianet.dilations, [1, 1, 2, 3, 5]);
    assert_eq!(m.marianet.se_ratio, 16);
    assert_eq!(m.marianet.decoder, [128, 64, 32, 32, 32]);
    assert_eq!(m.marianet_channels(), 290);
    assert_eq!("marianet".parse::<BuilderKind>(), Ok(BuilderKind::MariaNet));
    assert_eq!(BuilderKind::Unet.to_string(), "unet");
    assert!("vnet".parse::<BuilderKind>().unwrap_err().contains("vnet"));
}

#[test]
fn the_commented_file_parses_back_to_the_same_config() {
    for cfg in [
        BuilderConfig::defaults(BuilderKind::Unet),
        BuilderConfig::defaults(BuilderKind::MariaNet),
        custom(),
    ] {
        let text = cfg.to_toml();
        assert_eq!(parse(&text).unwrap(), cfg, "{text}");
        // Every key has a comment line right above it.
        let lines: Vec<&str> = text.lines().collect();
        let mut keys = 0;
        for (i, l) in lines.iter().enumerate() {
            if l.contains(" = ") && !l.starts_with('#') {
                keys += 1;
                assert!(
                    lines[i - 1].starts_with('#'),
                    "no comment above {l:?}\n{text}"
                );
            }
        }
        assert_eq!(keys, 12, "{text}");
    }
    let text = custom().to_toml();
    for want in [
        "kind = \"marianet\"",
        "input_shape = [40, 48, 56]",
        "norm = \"instance\"",
        "padding = \"zeros\"",
        "use_segmentation = true",
        "[unet]",
        "enc_nf = [8, 16]",
        "[marianet]",
        "dilations = [1, 2, 4]",
    ] {
        assert!(text.contains(want), "{want} missing from\n{text}");
    }
}

#[test]
fn a_missing_architecture_table_takes_its_defaults() {
    let text = "format_version = 1\nkind = \"unet\"\ninput_shape = [32, 32, 48]\n\
                norm = \"none\"\npadding = \"border\"\nuse_segmentation = false\n\
                [unet]\nenc_nf = [4]\ndec_nf = [4, 4, 4]\n";
    let c = parse(text).unwrap();
    assert_eq!(c.unet.enc_nf, [4]);
    assert_eq!(c.norm, NormKind::None);
    assert_eq!(
        c.marianet,
        BuilderConfig::defaults(BuilderKind::MariaNet).marianet
    );
}

/// Replaces the line starting with `key =` in the default U-Net file by `line`.
fn edited(key: &str, line: &str) -> String {
    BuilderConfig::defaults(BuilderKind::Unet)
        .to_toml()
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{key} =")) {
                line
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn bad_values_name_the_file_and_the_key() {
    let cases = [
        (edited("norm", "norm = \"group\""), "norm", "group"),
        (
            edited("padding", "padding = \"reflect\""),
            "padding",
            "reflect",
        ),
        (edited("kind", "kind = \"vnet\""), "kind", "vnet"),
        (
            edited("input_shape", "input_shape = [64, 0, 64]"),
            "input_shape",
            "at least 1",
        ),
        (
            edited("input_shape", "input_shape = [64, 64]"),
            "input_shape",
            "",
        ),
        (
            edited("use_segmentation", "use_segmentation = 1"),
            "use_segmentation",
            "",
        ),
        (
            edited("dec_nf", "dec_nf = [32, 32, 16]"),
            "unet.dec_nf",
            "len(enc_nf) + 2 = 6",
        ),
        (edited("enc_nf", "enc_nf = []"), "unet.enc_nf", "empty"),
        (
            edited("enc_nf", "enc_nf = [16, 0, 32, 32]"),
            "unet.enc_nf",
            "from 1 to 4096, got 0",
        ),
        (
            edited("enc_nf", "enc_nf = [16, 32, 32, 9223372036854775807]"),
            "unet.enc_nf",
            "from 1 to 4096, got 9223372036854775807",
        ),
        (
            edited("filters", "filters = [32, 64, 1000000000, 32, 32]"),
            "marianet.filters",
            "from 1 to 4096",
        ),
        (
            edited("dilations", "dilations = [1, 1, 2, 3, 100000]"),
            "marianet.dilations",
            "from 1 to 256",
        ),
        (
            edited("enc_nf", &format!("enc_nf = {:?}", [8; 31])),
            "unet.enc_nf",
            "at most 30 entries (dec_nf has two more), got 31",
        ),
        (
            edited("decoder", &format!("decoder = {:?}", [8; 33])),
            "marianet.decoder",
            "at most 32 entries, got 33",
        ),
        (
            edited("input_shape", "input_shape = [64, 64, 64, 1]"),
            "input_shape",
            "invalid length 4",
        ),
        (
            edited("input_shape", "input_shape = [2048, 1024, 1024]"),
            "input_shape",
            "more than 1073741824 voxels",
        ),
        (
            edited("dilations", "dilations = [1, 2]"),
            "marianet.dilations",
            "one entry per",
        ),
        (
            edited("se_ratio", "se_ratio = 300"),
            "marianet.se_ratio",
            "290",
        ),
        (edited("se_ratio", "se_ratio = 0"), "marianet.se_ratio", ""),
        (edited("decoder", "decoder = [128, -1]"), "decoder", ""),
        (
            edited("format_version", "format_version = 2"),
            "format_version = 2",
            "",
        ),
        (
            edited("kind", "kind = \"unet\"\nlayers = 3"),
            "layers",
            "unknown",
        ),
        (
            edited("enc_nf", "enc_nf = [16]\nencoder = [1]"),
            "encoder",
            "unknown",
        ),
        (edited("norm", ""), "norm", "missing"),
    ];
    for (text, key, what) in cases {
        let e = parse(&text).expect_err(key);
        assert!(
            e.contains(FILE) && e.contains(key) && e.contains(what),
            "{key}: {e}"
        );
    }
}

#[test]
fn save_is_atomic_and_load_reads_it_back() {
    let tmp = TempDir::new("builder_save");
    let dir = tmp.0.clone();
    let path = dir.join("builder.toml");
    let cfg = custom();
    cfg.save(&path).unwrap();
    assert_eq!(BuilderConfig::load(&path).unwrap(), cfg);
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["builder.toml"], "no temporary file is left behind");
    // An invalid configuration is refused and the existing file is untouched.
    let mut bad = cfg.clone();
    bad.unet.dec_nf.pop();
    let e = bad.save(&path).unwrap_err().to_string();
    assert!(
        e.contains("unet.dec_nf") && e.contains("builder.toml"),
        "{e}"
    );
    assert_eq!(BuilderConfig::load(&path).unwrap(), cfg);
    let missing = dir.join("nope.toml");
    let e = BuilderConfig::load(&missing).unwrap_err().to_string();
    assert!(e.contains("nope.toml"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
