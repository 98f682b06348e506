//! The two networks: parameter counts and names at the SPEC defaults, summaries, output shapes
//! on small and odd inputs, identity at initialization, segmentation warping, norms, errors.

use super::{CPU, blob, max_diff, vals, volume};
use crate::models::{
    BuilderConfig, BuilderKind, Model, NetInputs, NetOutputs, transform, warp_with_grid,
};
use crate::nn::{NormKind, ParamStore};
use crate::ops::Padding;
use crate::tensor::{Rng, Tensor};

fn build(cfg: &BuilderConfig) -> (Model, ParamStore) {
    let mut store = ParamStore::new();
    let model = Model::build(cfg, &mut store, &mut Rng::new(5), CPU).unwrap();
    (model, store)
}

/// A MariaNet small enough to run quickly.
fn small_marianet() -> BuilderConfig {
    let mut c = BuilderConfig::defaults(BuilderKind::MariaNet);
    c.marianet.filters = vec![8, 8, 16];
    c.marianet.dilations = vec![1, 2, 3];
    c.marianet.se_ratio = 4;
    c.marianet.decoder = vec![16, 8];
    c
}

/// Runs `model` in training mode on a random pair of `[n, dims, 1]` volumes.
fn run(
    model: &Model,
    store: &ParamStore,
    n: usize,
    dims: [usize; 3],
    seg: Option<&Tensor>,
) -> NetOutputs {
    let mut rng = Rng::new(9);
    let [d, h, w] = dims;
    let src = Tensor::randn([n, d, h, w, 1], 0.0, 1.0, &mut rng, CPU).unwrap();
    let tgt = Tensor::randn([n, d, h, w, 1], 0.0, 1.0, &mut rng, CPU).unwrap();
    let p = store.frozen(true);
    let inputs = NetInputs {
        src: &src,
        tgt: &tgt,
        src_seg: seg,
    };
    model.forward(&p, &inputs).unwrap()
}

fn layer_names(store: &ParamStore) -> Vec<String> {
    let mut v: Vec<String> = store
        .iter()
        .map(|(n, _)| n.split('.').next().unwrap().to_string())
        .collect();
    v.dedup();
    v
}

#[test]
fn unet_defaults_have_the_spec_parameter_count_and_names() {
    let (model, store) = build(&BuilderConfig::defaults(BuilderKind::Unet));
    assert_eq!(store.count(), (273_411, 273_955));
    let shape = |n: &str| store.get(n).unwrap().value.dims().to_vec();
    assert_eq!(shape("enc1.conv.weight"), [3, 3, 3, 2, 16]);
    assert_eq!(shape("enc4.norm.running_var"), [32]);
    assert_eq!(shape("dec1.conv.weight"), [3, 3, 3, 32, 32]);
    assert_eq!(shape("dec3.conv.weight"), [3, 3, 3, 64, 32]);
    assert_eq!(shape("dec4.conv.weight"), [3, 3, 3, 48, 32]);
    assert_eq!(shape("dec6.conv.weight"), [3, 3, 3, 18, 16]);
    assert_eq!(shape("gradient_flow.weight"), [3, 3, 3, 16, 3]);
    assert_eq!(shape("gradient_flow.bias"), [3]);
    let mut names = layer_names(&store);
    names.sort();
    let want = [
        "dec1",
        "dec2",
        "dec3",
        "dec4",
        "dec5",
        "dec6",
        "enc1",
        "enc2",
        "enc3",
        "enc4",
        "gradient_flow",
    ];
    assert_eq!(names, want);
    assert_eq!(model.regularized_weights(), ["gradient_flow.weight"]);
    assert_eq!(model.kind(), BuilderKind::Unet);
    let w = vals(&store.get("gradient_flow.weight").unwrap().value);
    let std = (w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32).sqrt();
    assert!(std > 0.5e-5 && std < 2e-5, "N(0, 1e-5) init: {std}");
    assert!(
        vals(&store.get("dec2.conv.bias").unwrap().value)
            .iter()
            .all(|&b| b == 0.0)
    );
}

#[test]
fn marianet_defaults_have_the_spec_parameter_count_and_names() {
    let (model, store) = build(&BuilderConfig::defaults(BuilderKind::MariaNet));
    assert_eq!(store.count(), (1_859_199, 1_860_351));
    let shape = |n: &str| store.get(n).unwrap().value.dims().to_vec();
    assert_eq!(shape("enc3.conv.weight"), [3, 3, 3, 64, 128]);
    assert_eq!(shape("enc5.conv.weight"), [3, 3, 3, 32, 32]);
    assert_eq!(shape("se.squeeze.weight"), [290, 18]);
    assert_eq!(shape("se.excite.weight"), [18, 290]);
    assert_eq!(shape("dec1.conv.weight"), [3, 3, 3, 290, 128]);
    assert_eq!(shape("dec5.norm.gamma"), [32]);
    assert_eq!(shape("deformable_gradient_flow.weight"), [3, 3, 3, 32, 3]);
    assert_eq!(shape("linear_flow.weight"), [3, 3, 3, 290, 12]);
    assert_eq!(shape("linear_flow.bias"), [12]);
    let mut names = layer_names(&store);
    names.sort();
    let want = [
        "dec1",
        "dec2",
        "dec3",
        "dec4",
        "dec5",
        "deformable_gradient_flow",
        "enc1",
        "enc2",
        "enc3",
        "enc4",
        "enc5",
        "linear_flow",
        "se",
    ];
    assert_eq!(names, want);
    assert_eq!(
        model.regularized_weights(),
        ["deformable_gradient_flow.weight"]
    );
}

#[test]
fn summaries_give_counts_and_shapes_without_running() {
    let mut cfg = BuilderConfig::defaults(BuilderKind::Unet);
    let (model, store) = build(&cfg);
    let rows = model.summary(&store);
    let find = |name: &str| rows.iter().find(|r| r.name == name).unwrap().clone();
    assert_eq!(find("enc1").output_shape, [128, 128, 128, 16]);
    assert_eq!(find("enc1").params, 27 * 2 * 16 + 16 + 4 * 16);
    assert_eq!(find("enc4").output_shape, [16, 16, 16, 32]);
    assert_eq!(find("dec1").output_shape, [16, 16, 16, 32]);
    assert_eq!(find("dec3").output_shape, [64, 64, 64, 32]);
    assert_eq!(find("dec5").output_shape, [128, 128, 128, 16]);
    assert_eq!(find("dec6").output_shape, [256, 256, 256, 16]);
    assert_eq!(find("gradient_flow").params, 27 * 16 * 3 + 3);
    assert_eq!(rows.last().unwrap().output_shape, [256, 256, 256, 1]);
    assert_eq!(rows.iter().map(|r| r.params).sum::<usize>(), 273_955);
    cfg.input_shape = [15, 13, 11];
    let (model, store) = build(&cfg);
    let rows = model.summary(&store);
    let enc: Vec<_> = rows[..4]
        .iter()
        .map(|r| r.output_shape[..3].to_vec())
        .collect();
    assert_eq!(enc, [[8, 7, 6], [4, 4, 3], [2, 2, 2], [1, 1, 1]]);

    let (model, store) = build(&BuilderConfig::defaults(BuilderKind::MariaNet));
    let rows = model.summary(&store);
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names[5..8], ["se", "dec1", "dec2"]);
    assert_eq!(rows[5].output_shape, [64, 64, 64, 290]);
    assert_eq!(rows[5].params, 2 * 290 * 18);
    assert_eq!(
        rows.iter()
            .find(|r| r.name == "linear_flow")
            .unwrap()
            .output_shape,
        [12]
    );
    assert_eq!(rows.iter().map(|r| r.params).sum::<usize>(), 1_860_351);
}

fn check_shapes(out: &NetOutputs, n: usize, [d, h, w]: [usize; 3], linear: bool) {
    assert_eq!(out.deformed.dims(), [n, d, h, w, 1]);
    assert_eq!(out.gradient.dims(), [n, d, h, w, 3]);
    assert_eq!(out.grid.dims(), [n, d, h, w, 3]);
    assert_eq!(
        out.linear.as_ref().map(|l| l.dims().to_vec()),
        linear.then(|| vec![n, 12])
    );
    assert!(out.deformed_seg.is_none());
}

#[test]
fn unet_runs_on_non_cubic_and_odd_sizes() {
    let (model, store) = build(&BuilderConfig::defaults(BuilderKind::Unet));
    for (n, dims) in [(2, [16, 12, 20]), (1, [15, 13, 11])] {
        check_shapes(&run(&model, &store, n, dims, None), n, dims, false);
    }
}

#[test]
fn marianet_runs_at_twelve_cubed() {
    let (model, store) = build(&BuilderConfig::defaults(BuilderKind::MariaNet));
    check_shapes(
        &run(&model, &store, 1, [12, 12, 12], None),
        1,
        [12; 3],
        true,
    );
    let (model, store) = build(&small_marianet());
    check_shapes(
        &run(&model, &store, 2, [7, 9, 10], None),
        2,
        [7, 9, 10],
        true,
    );
}

/// Outputs of a freshly initialized network on a pair of blobs.
fn at_init(cfg: &BuilderConfig) -> (Tensor, NetOutputs) {
    let (model, store) = build(cfg);
    let dims = [12, 10, 14];
    let src = blob(dims, [5.0, 4.0, 7.0], 8.0);
    let tgt = blob(dims, [6.0, 4.5, 6.0], 8.0);
    let p = store.frozen(true);
    let out = model
        .forward(
            &p,
            &NetInputs {
                src: &src,
                tgt: &tgt,
                src_seg: None,
            },
        )
        .unwrap();
    (src, out)
}

#[test]
fn networks_start_at_the_identity() {
    for cfg in [BuilderConfig::defaults(BuilderKind::Unet), small_marianet()] {
        let (src, out) = at_init(&cfg);
        let g = vals(&out.gradient);
        let off = g.iter().map(|v| (v - 0.5).abs()).fold(0.0, f32::max);
        assert!(off < 1e-3, "{:?}: gradient {off} from 0.5", cfg.kind);
        let d = max_diff(&vals(&out.deformed), &vals(&src));
        assert!(d < 2e-3, "{:?}: deformed differs from src by {d}", cfg.kind);
        if let Some(l) = &out.linear {
            let l = vals(l).iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(l < 1e-3, "linear head {l}");
        }
    }
}

#[test]
fn use_segmentation_warps_the_mask_with_the_same_grid() {
    for mut cfg in [BuilderConfig::defaults(BuilderKind::Unet), small_marianet()] {
        cfg.use_segmentation = true;
        cfg.padding = Padding::Zeros;
        let (model, mut store) = build(&cfg);
        // Move the heads off the identity so that the grid really warps.
        let flow = model.regularized_weights()[0].replace(".weight", ".bias");
        let bias = Tensor::from_vec(vec![0.8, -0.6, 0.4], [3], CPU).unwrap();
        store.set(&flow, bias).unwrap();
        let dims = [10, 12, 9];
        let seg = volume([1, 10, 12, 9, 2], |_, z, y, x, c| {
            ((z / 3 + y / 4 + x / 2 + c) % 2) as f32
        });
        let src = blob(dims, [5.0, 6.0, 4.0], 6.0);
        let p = store.frozen(true);
        let inputs = NetInputs {
            src: &src,
            tgt: &src,
            src_seg: None,
        };
        let e = model.forward(&p, &inputs).unwrap_err().to_string();
        assert!(e.contains("use_segmentation"), "{e}");
        let out = model
            .forward(
                &p,
                &NetInputs {
                    src_seg: Some(&seg),
                    ..inputs
                },
            )
            .unwrap();
        let warped = out.deformed_seg.unwrap();
        let again = warp_with_grid(&seg, &out.grid, Padding::Zeros).unwrap();
        assert!(warped.bitwise_eq(&again).unwrap());
        assert!(
            max_diff(&vals(&warped), &vals(&seg)) > 0.5,
            "the mask moved"
        );
        let direct = transform(&src, &out.gradient, out.linear.as_ref(), Padding::Zeros).unwrap();
        assert!(direct.warped.bitwise_eq(&out.deformed).unwrap());
    }
}

#[test]
fn instance_and_no_normalization_build_and_run() {
    for (norm, count) in [
        (NormKind::Instance, (273_411, 273_411)),
        (NormKind::None, (272_867, 272_867)),
    ] {
        let mut cfg = BuilderConfig::defaults(BuilderKind::Unet);
        cfg.norm = norm;
        let (model, store) = build(&cfg);
        assert_eq!(store.count(), count, "{norm:?}");
        check_shapes(
            &run(&model, &store, 1, [9, 8, 10], None),
            1,
            [9, 8, 10],
            false,
        );
        let mut cfg = small_marianet();
        cfg.norm = norm;
        let (model, store) = build(&cfg);
        check_shapes(&run(&model, &store, 1, [6, 5, 7], None), 1, [6, 5, 7], true);
    }
}

#[test]
fn bad_inputs_and_configs_are_errors() {
    let (model, store) = build(&small_marianet());
    let p = store.frozen(false);
    let a = Tensor::zeros([1, 6, 6, 6, 1], CPU).unwrap();
    let b = Tensor::zeros([1, 6, 6, 5, 1], CPU).unwrap();
    let two = Tensor::zeros([1, 6, 6, 6, 2], CPU).unwrap();
    for (src, tgt, seg) in [(&a, &b, None), (&two, &two, None), (&a, &a, Some(&b))] {
        let e = model
            .forward(
                &p,
                &NetInputs {
                    src,
                    tgt,
                    src_seg: seg,
                },
            )
            .unwrap_err();
        assert!(e.to_string().contains("Model::forward"), "{e}");
    }
    let mut cfg = BuilderConfig::defaults(BuilderKind::Unet);
    cfg.unet.dec_nf.push(8);
    let e = Model::build(&cfg, &mut ParamStore::new(), &mut Rng::new(0), CPU).unwrap_err();
    assert!(e.to_string().contains("unet.dec_nf"), "{e}");
}

#[test]
fn a_seed_fixes_the_initial_weights() {
    let cfg = small_marianet();
    let (_, a) = build(&cfg);
    let (_, b) = build(&cfg);
    for ((na, pa), (nb, pb)) in a.iter().zip(b.iter()) {
        assert_eq!(na, nb);
        assert!(pa.value.bitwise_eq(&pb.value).unwrap(), "{na}");
    }
}
