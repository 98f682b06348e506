//! Checkpoint tests: bitwise round trip, builder hash refusal, corruption, atomic writes.

use super::{BUILDER, files_in};
use crate::data::generators::GenState;
use crate::nn::ParamStore;
use crate::nn::{Adam, AdamConfig};
use crate::session::*;
use crate::tensor::{Device, Rng, Tensor};
use crate::testutil::TempDir;
use std::collections::BTreeMap;
use std::path::Path;

/// A small network's store (weights and a running statistic) and an optimizer after two real
/// Adam steps on random gradients.
fn trained_state() -> (ParamStore, Adam) {
    let d = Device::Cpu;
    let mut rng = Rng::new(5);
    let mut store = ParamStore::new();
    store
        .insert(
            "enc1.conv.weight",
            Tensor::randn([3, 3, 3, 2, 4], 0.0, 1.0, &mut rng, d).unwrap(),
            true,
        )
        .unwrap();
    store
        .insert(
            "enc1.conv.bias",
            Tensor::randn([4], 0.0, 1.0, &mut rng, d).unwrap(),
            true,
        )
        .unwrap();
    store
        .insert(
            "enc1.norm.running_mean",
            Tensor::randn([4], 0.0, 1.0, &mut rng, d).unwrap(),
            false,
        )
        .unwrap();
    store
        .insert(
            "gradient_flow.bias",
            Tensor::randn([3], 0.0, 1.0, &mut rng, d).unwrap(),
            true,
        )
        .unwrap();
    let mut adam = Adam::new(AdamConfig::default());
    for _ in 0..2 {
        let grads: BTreeMap<String, Tensor> = store
            .iter()
            .filter(|(_, p)| p.trainable)
            .map(|(n, p)| {
                (
                    n.to_string(),
                    Tensor::randn(p.value.shape().clone(), 0.0, 1.0, &mut rng, d).unwrap(),
                )
            })
            .collect();
        adam.step(&mut store, &grads).unwrap();
    }
    (store, adam)
}

/// The same names and shapes with other values, and a fresh optimizer.
fn blank_like(store: &ParamStore) -> (ParamStore, Adam) {
    let mut s = ParamStore::new();
    for (n, p) in store.iter() {
        s.insert(
            n,
            Tensor::zeros(p.value.shape().clone(), Device::Cpu).unwrap(),
            p.trainable,
        )
        .unwrap();
    }
    (s, Adam::new(AdamConfig::default()))
}

fn same(a: &ParamStore, b: &ParamStore) -> bool {
    a.len() == b.len()
        && a.iter().zip(b.iter()).all(|((na, pa), (nb, pb))| {
            na == nb && pa.trainable == pb.trainable && pa.value.bitwise_eq(&pb.value).unwrap()
        })
}

fn same_moments(a: &BTreeMap<String, Tensor>, b: &BTreeMap<String, Tensor>) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((na, ta), (nb, tb))| na == nb && ta.bitwise_eq(tb).unwrap())
}

/// An identity for a builder text that need not be a valid builder (the network hash then
/// derives from the text too, so different texts differ in both hashes).
fn ident(text: &str) -> BuilderIdentity {
    BuilderIdentity {
        text: builder_hash(text),
        network: !builder_hash(text),
    }
}

fn write_sample(path: &Path, store: &ParamStore, adam: &Adam, rng: &Rng, hash: BuilderIdentity) {
    let data = CheckpointData {
        epoch: 12,
        params: store,
        adam,
        rng,
        gen_state: GenState {
            epoch: 11,
            cursor: 3,
        },
        partial: None,
        builder: hash,
    };
    save_checkpoint(path, &data).unwrap();
}

#[test]
fn a_partial_epoch_round_trips_with_its_exact_loss_sums() {
    let tmp = TempDir::new("partial");
    let dir = tmp.0.clone();
    let path = dir.join("chkpt_03.safetensors");
    let (store, adam) = trained_state();
    let hash = ident(BUILDER);
    let partial = PartialEpoch {
        steps_done: 7,
        sums: [
            ("loss".to_string(), 0.1 + 0.2),
            ("mse".to_string(), 1.0 / 3.0),
        ]
        .into(),
    };
    let data = CheckpointData {
        epoch: 3,
        params: &store,
        adam: &adam,
        rng: &Rng::new(4),
        gen_state: GenState {
            epoch: 2,
            cursor: 7,
        },
        partial: Some(&partial),
        builder: hash,
    };
    save_checkpoint(&path, &data).unwrap();
    let (mut s2, mut a2) = blank_like(&store);
    let meta = load_checkpoint(&path, &hash, &mut s2, &mut a2).unwrap();
    assert_eq!(
        meta.partial.as_ref(),
        Some(&partial),
        "sums restored to the bit"
    );
    assert_eq!(read_checkpoint_info(&path).unwrap().meta, meta);
    // The same state gives the same bytes (the metadata's keys in a fixed order).
    let again = dir.join("again.safetensors");
    save_checkpoint(&again, &data).unwrap();
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&path).unwrap()
    );
    // A complete epoch has none.
    write_sample(&path, &store, &adam, &Rng::new(4), hash);
    let meta = load_checkpoint(&path, &hash, &mut s2, &mut a2).unwrap();
    assert_eq!(meta.partial, None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoint_round_trip_restores_everything_bitwise() {
    let tmp = TempDir::new("chkpt");
    let dir = tmp.0.clone();
    let path = dir.join("chkpt_12.safetensors");
    let (store, adam) = trained_state();
    assert_eq!(adam.iterations, 2);
    let mut rng = Rng::new(9);
    rng.normal(); // leaves a cached deviate: the spare must survive too
    let hash = ident(BUILDER);
    write_sample(&path, &store, &adam, &rng, hash);
    assert_eq!(
        files_in(&dir),
        ["chkpt_12.safetensors"],
        "no temporary file left"
    );
    // scripts/check_checkpoint.py reads this sample with Python's safetensors.
    if let Some(out) = std::env::var_os("VOXFLOW_CHECKPOINT_SAMPLE") {
        std::fs::copy(&path, out).unwrap();
    }

    let (mut s2, mut a2) = blank_like(&store);
    assert!(!same(&s2, &store));
    let meta = load_checkpoint(&path, &hash, &mut s2, &mut a2).unwrap();
    assert!(
        same(&s2, &store),
        "parameters and running statistics restored bitwise"
    );
    assert!(same_moments(&a2.m, &adam.m) && same_moments(&a2.v, &adam.v));
    assert_eq!(a2.m.len(), 3, "moments of the 3 trainable tensors");
    assert_eq!(a2.iterations, 2);
    assert_eq!(meta.epoch, 12);
    assert_eq!(
        meta.gen_state,
        GenState {
            epoch: 11,
            cursor: 3
        }
    );
    assert_eq!(meta.rng, rng);
    let (mut r1, mut r2) = (rng.clone(), meta.rng.clone());
    assert_eq!((r1.normal(), r1.next_u64()), (r2.normal(), r2.next_u64()));
    assert_eq!(meta.version, env!("CARGO_PKG_VERSION"));

    let info = read_checkpoint_info(&path).unwrap();
    assert_eq!(info.tensors[0], ("enc1.conv.bias".to_string(), vec![4]));
    assert_eq!(info.tensors.len(), 4);
    assert_eq!(info.optimizer_tensors, 6);
    assert_eq!(
        (info.params_trainable, info.params_total),
        (216 + 4 + 3, 216 + 4 + 3 + 4)
    );

    // Continuing the run from the restored state is the same as continuing the original.
    let g: BTreeMap<String, Tensor> = BTreeMap::from([(
        "enc1.conv.bias".into(),
        Tensor::full(0.3, [4], Device::Cpu).unwrap(),
    )]);
    let (mut s1, mut a1) = (store.clone(), adam.clone());
    a1.step(&mut s1, &g).unwrap();
    a2.step(&mut s2, &g).unwrap();
    assert!(same(&s1, &s2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_different_builder_is_refused_with_the_reason() {
    let tmp = TempDir::new("hash");
    let dir = tmp.0.clone();
    let path = dir.join("chkpt_12.safetensors");
    let (store, adam) = trained_state();
    write_sample(&path, &store, &adam, &Rng::new(1), ident(BUILDER));

    // Same tensors, other builder text (a value changed): refused, saying the tensors match.
    let other = BUILDER.replace("[16, 32]", "[16, 33]");
    assert_ne!(builder_hash(&other), builder_hash(BUILDER));
    let (mut s2, mut a2) = blank_like(&store);
    let e = load_checkpoint(&path, &ident(&other), &mut s2, &mut a2)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("chkpt_12.safetensors") && e.contains("different builder.toml"),
        "{e}"
    );
    assert!(e.contains("every tensor name and shape matches"), "{e}");
    assert!(
        s2.iter()
            .all(|(_, p)| p.value.to_vec().unwrap().iter().all(|&x| x == 0.0)),
        "store untouched"
    );
    assert_eq!(a2.iterations, 0);

    // A network with a renamed layer and a reshaped one: the message lists them.
    let mut s3 = ParamStore::new();
    let d = Device::Cpu;
    s3.insert(
        "enc1.conv.weight",
        Tensor::zeros([3, 3, 3, 2, 8], d).unwrap(),
        true,
    )
    .unwrap();
    s3.insert("enc1.conv.bias", Tensor::zeros([4], d).unwrap(), true)
        .unwrap();
    s3.insert(
        "enc1.norm.running_mean",
        Tensor::zeros([4], d).unwrap(),
        false,
    )
    .unwrap();
    s3.insert("flow.bias", Tensor::zeros([3], d).unwrap(), true)
        .unwrap();
    let e = load_checkpoint(&path, &ident(&other), &mut s3, &mut a2)
        .unwrap_err()
        .to_string();
    for needle in [
        "flow.bias [3]",
        "gradient_flow.bias [3]",
        "enc1.conv.weight: checkpoint [3, 3, 3, 2, 4], network [3, 3, 3, 2, 8]",
    ] {
        assert!(e.contains(needle), "{needle:?} not in {e}");
    }
    // Even with the right hash, tensors that do not fit are refused.
    let e = load_checkpoint(&path, &ident(BUILDER), &mut s3, &mut a2)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not fit the network") && e.contains("flow.bias"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checkpoint_fits_a_builder_whose_text_or_network_is_the_same() {
    use crate::models::{BuilderConfig, BuilderKind};
    let unet = BuilderConfig::defaults(BuilderKind::Unet);
    let text = unet.to_toml();
    let id = BuilderIdentity::of(&text, &unet);
    // The unused [marianet] table deleted and another nominal input size: other text, same
    // network.
    let cut = text[..text.find("[marianet]").unwrap()].replace("256, 256, 256", "64, 64, 64");
    let edited = BuilderConfig::from_toml(&cut, Path::new("builder.toml")).unwrap();
    assert_eq!(edited.input_shape, [64; 3]);
    let id2 = BuilderIdentity::of(&cut, &edited);
    assert_ne!(id2.text, id.text);
    assert_eq!(id2.network, id.network);
    // A changed layer: both differ.
    let mut wider = unet.clone();
    wider.unet.enc_nf[0] += 1;
    let id3 = BuilderIdentity::of(&wider.to_toml(), &wider);
    assert_ne!(id3.text, id.text);
    assert_ne!(id3.network, id.network);
    // So do the normalization and the other architecture.
    let mut norm = unet.clone();
    norm.norm = crate::nn::NormKind::Instance;
    assert_ne!(network_hash(&norm), id.network);
    assert_ne!(
        network_hash(&BuilderConfig::defaults(BuilderKind::MariaNet)),
        id.network
    );

    let tmp = TempDir::new("identity");
    let dir = tmp.0.clone();
    let path = dir.join("chkpt_12.safetensors");
    let (store, adam) = trained_state();
    write_sample(&path, &store, &adam, &Rng::new(1), id);
    let (mut s2, mut a2) = blank_like(&store);
    let meta = load_checkpoint(&path, &id2, &mut s2, &mut a2).unwrap();
    assert_eq!(meta.network_hash, Some(id.network));
    assert!(load_checkpoint(&path, &id3, &mut s2, &mut a2).is_err());
    // A checkpoint of an earlier version (no network hash) fits by its builder hash alone.
    strip_network_hash(&path);
    let legacy = BuilderIdentity {
        text: id.text,
        network: id3.network,
    };
    let meta = load_checkpoint(&path, &legacy, &mut s2, &mut a2).unwrap();
    assert_eq!(meta.network_hash, None);
    assert!(load_checkpoint(&path, &id2, &mut s2, &mut a2).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Rewrites the checkpoint at `path` without its `network_hash` metadata, as an earlier
/// version wrote it.
fn strip_network_hash(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    assert!(meta.remove("network_hash").is_some());
    let views: Vec<(String, safetensors::tensor::TensorView)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
    let out = safetensors::serialize(views, Some(meta)).unwrap();
    std::fs::write(path, out).unwrap();
}

#[test]
fn builder_hash_ignores_comments_and_layout_only() {
    let a = builder_hash("format_version = 1\nkind = \"unet\"\nenc_nf = [16, 32]\n");
    let b = builder_hash(
        "# my net\r\nkind   = \"unet\" # the U-Net\r\nformat_version=1\r\n\r\nenc_nf = [ 16,32 ]\r\n",
    );
    assert_eq!(a, b);
    assert_ne!(
        a,
        builder_hash("format_version = 1\nkind = \"unet\"\nenc_nf = [16, 32, 32]\n")
    );
    assert_ne!(
        a,
        builder_hash("format_version = 1\nkind = \"unet\"\nenc_nf = [16.0, 32]\n")
    );
    // FNV-1a 64 known answers; a text that is not TOML is hashed as it is.
    assert_eq!(checkpoint::fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(checkpoint::fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(checkpoint::fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    assert_eq!(builder_hash("= ="), checkpoint::fnv1a64(b"= ="));
    assert_eq!(builder_hash("= =\r\nx"), checkpoint::fnv1a64(b"= =\nx"));
}

#[test]
fn truncated_or_corrupted_checkpoints_are_errors_naming_the_file() {
    let tmp = TempDir::new("corrupt");
    let dir = tmp.0.clone();
    let path = dir.join("chkpt_12.safetensors");
    let (store, adam) = trained_state();
    let hash = ident(BUILDER);
    write_sample(&path, &store, &adam, &Rng::new(1), hash);
    let good = std::fs::read(&path).unwrap();
    let bad_path = dir.join("chkpt_13.safetensors");
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 0x40; // a data byte (in the last tensor)
    let mut header_flip = good.clone();
    header_flip[8 + header_len / 2] = b'\x07';
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (good[..good.len() - 100].to_vec(), "truncated or corrupted"),
        (good[..5].to_vec(), "truncated or corrupted"),
        (vec![], "truncated or corrupted"),
        (flipped, "checksum"),
        (header_flip, "truncated or corrupted"),
        (
            b"not a checkpoint at all".to_vec(),
            "truncated or corrupted",
        ),
    ];
    for (bytes, needle) in cases {
        std::fs::write(&bad_path, &bytes).unwrap();
        let (mut s2, mut a2) = blank_like(&store);
        let e = load_checkpoint(&bad_path, &hash, &mut s2, &mut a2)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("chkpt_13.safetensors") && e.contains(needle),
            "{e}"
        );
        assert_eq!(a2.iterations, 0, "nothing restored");
    }
    // A plain safetensors file without our metadata.
    let plain = safetensors::serialize(
        [(
            "w",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &[0u8; 4])
                .unwrap(),
        )],
        None,
    )
    .unwrap();
    std::fs::write(&bad_path, plain).unwrap();
    let (mut s2, mut a2) = blank_like(&store);
    let e = load_checkpoint(&bad_path, &hash, &mut s2, &mut a2)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("chkpt_13.safetensors") && e.contains("not a voxflow checkpoint"),
        "{e}"
    );
    let e = load_checkpoint(&dir.join("chkpt_99.safetensors"), &hash, &mut s2, &mut a2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("chkpt_99.safetensors"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn saving_overwrites_atomically_and_refuses_inconsistent_state() {
    let tmp = TempDir::new("atomic");
    let dir = tmp.0.clone();
    let path = dir.join("chkpt_01.safetensors");
    let (store, adam) = trained_state();
    write_sample(&path, &store, &adam, &Rng::new(1), ident("x"));
    let first = std::fs::read(&path).unwrap();
    write_sample(&path, &store, &adam, &Rng::new(2), ident("x"));
    assert_ne!(std::fs::read(&path).unwrap(), first);
    assert_eq!(files_in(&dir), ["chkpt_01.safetensors"]);

    // Moments for a parameter the store lacks: refused, and the file is left as it was.
    let before = std::fs::read(&path).unwrap();
    let mut bad = adam.clone();
    bad.m
        .insert("ghost".into(), Tensor::zeros([1], Device::Cpu).unwrap());
    bad.v
        .insert("ghost".into(), Tensor::zeros([1], Device::Cpu).unwrap());
    let data = CheckpointData {
        epoch: 1,
        params: &store,
        adam: &bad,
        rng: &Rng::new(1),
        gen_state: GenState::default(),
        partial: None,
        builder: ident("x"),
    };
    let e = save_checkpoint(&path, &data).unwrap_err().to_string();
    assert!(e.contains("ghost") && e.contains("chkpt_01"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // A directory that does not exist: an error naming the file.
    let e = save_checkpoint(&dir.join("nope/chkpt_02.safetensors"), &data)
        .unwrap_err()
        .to_string();
    assert!(e.contains("chkpt_02.safetensors"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
