//! FID Inception equal to pytorch-fid's model code on closed-form pseudo-random weights
//! (see metrics/src/fid/random.rs and tools/metrics/make_fid_fixture.py for why).

mod common;

use burn::backend::Flex;
use burn::prelude::*;
use common::Fixture;
use magictime_metrics::fid::random::{uniform, GeneratedWeights};
use magictime_metrics::fid::{fid_input, load_from_source, FID_SIZE};

type B = Flex;

#[test]
fn fid_inception_matches_pytorch_fid_on_generated_weights() {
    let device = Default::default();
    let net = load_from_source::<B>(&GeneratedWeights, &device).unwrap();
    let fx = Fixture::open("fid_inception_random.safetensors");
    // the fixture's input: 2 x 3 x 64 x 48 in [0, 1]
    let images: Vec<f32> = uniform("input", 2 * 3 * 64 * 48)
        .into_iter()
        .map(|u| ((u + 1.0) / 2.0) as f32)
        .collect();
    let x = fid_input(&images, 2, 64, 48);
    // resize check on a patch (pytorch-fid's F.interpolate before 2x-1)
    let want_patch = fx.f32s("resized");
    for r in 0..4 {
        for c in 0..8 {
            let got = (x[(100 + r) * FID_SIZE + 100 + c] + 1.0) / 2.0;
            let want = want_patch[r * 8 + c];
            assert!(
                (got - want).abs() < 1e-6,
                "resize ({r},{c}): {got} vs {want}"
            );
        }
    }
    let x = Tensor::<B, 4>::from_data(TensorData::new(x, [2, 3, FID_SIZE, FID_SIZE]), &device);
    let mut means = Vec::new();
    let pool = net.forward_with(x, |name, t| {
        let [b, c, h, w] = t.dims();
        let m = t.clone().reshape([b, c, h * w]).mean_dim(2);
        means.push((name.to_string(), m.into_data().to_vec::<f32>().unwrap()));
    });
    for (name, got) in &means {
        let want = fx.f32s(&format!("mean/{name}"));
        assert_eq!(got.len(), want.len(), "{name}: channels");
        let err = got
            .iter()
            .zip(&want)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        println!("{name:>14}: max |Δ mean| = {err:.2e}");
        assert!(err < 1e-4, "{name}: per-channel means differ by {err}");
    }
    let pool = pool.into_data().to_vec::<f32>().unwrap();
    let want = fx.f32s("pool");
    assert_eq!(pool.len(), want.len(), "pool3: features");
    let err = pool
        .iter()
        .zip(&want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    println!("pool3: max |Δ| = {err:.3e} (max |v| {scale:.3})");
    assert!(err <= 1e-4 * scale.max(1.0), "pool3 differs by {err}");
}

/// The `.pth` path of the loader (burn-store's PyTorch reader) on a real torch.save file holding
/// the generated `Conv2d_1a_3x3.*` tensors: same values as the generator, typed error for a
/// missing key.
#[test]
fn pth_reader_reads_torch_save_files() {
    use magictime_metrics::fid::loader::PthSource;
    use magictime_metrics::fid::TensorSource;
    let src = PthSource::open(&common::fixture_path("fid_pth_subset.pth")).unwrap();
    for (key, shape) in [
        ("Conv2d_1a_3x3.conv.weight", vec![32, 3, 3, 3]),
        ("Conv2d_1a_3x3.bn.weight", vec![32]),
        ("Conv2d_1a_3x3.bn.bias", vec![32]),
        ("Conv2d_1a_3x3.bn.running_mean", vec![32]),
        ("Conv2d_1a_3x3.bn.running_var", vec![32]),
    ] {
        let (got, got_shape) = src.tensor(key, &shape).unwrap();
        let (want, _) = GeneratedWeights.tensor(key, &shape).unwrap();
        assert_eq!(got_shape, shape, "{key}");
        assert_eq!(got, want, "{key}");
    }
    let err = src
        .tensor("Mixed_5b.branch1x1.conv.weight", &[64, 192, 1, 1])
        .unwrap_err();
    assert!(
        err.to_string().contains("Mixed_5b.branch1x1.conv.weight"),
        "{err}"
    );
}
