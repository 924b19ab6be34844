//! The UNet's key table (diffusers `UNet2DConditionModel` / `UNetMotionModel` checkpoint keys →
//! this port's module paths), and loading checkpoint tensors held in a [`WeightMap`] into the UNet
//! (and any module whose fields are named after those keys: motion modules, adapters).
//!
//! | module path segment          | checkpoint key segment |
//! |------------------------------|------------------------|
//! | `to_out`                     | `to_out.0`             |
//! | `net_0` / `net_2`            | `net.0` / `net.2`      |
//! | `Linear.weight` `[in, out]`  | `weight` `[out, in]` (transposed by the adapter) |
//! | everything else              | the same name          |
//!
//! Checkpoint layouts other than diffusers' are converted to diffusers keys first
//! ([`crate::motion::loader`] for AnimateDiff motion modules, [`crate::unet::checkpoint`] for
//! original single-file checkpoints), then loaded by [`load_into`] through
//! [`super::store::load_map`].

use std::sync::LazyLock;

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::store::{load_map, LoadMode, LoadReport, Rename, Renames};
use super::tensors::WeightMap;
use crate::error::Result;

/// Checkpoint ↔ module renames for the UNet (the table above).
pub const UNET_RENAMES: Renames = &[
    Rename::new(r"\.to_out\.0\.", ".to_out.", r"\.to_out\.", ".to_out.0."),
    Rename::new(
        r"\.net\.([02])\.",
        ".net_$1.",
        r"\.net_([02])\.",
        ".net.$1.",
    ),
];

/// [`UNET_RENAMES`]' module → checkpoint rewrites, compiled once (the trainers map every
/// parameter path at every step).
static TO_CHECKPOINT: LazyLock<Vec<(regex::Regex, String)>> = LazyLock::new(|| {
    UNET_RENAMES
        .iter()
        .map(|r| {
            (
                regex::Regex::new(&r.module_pattern).expect("valid rename regex"),
                r.checkpoint_replacement.to_string(),
            )
        })
        .collect()
});

/// The checkpoint key of a UNet parameter path (see the module table).
pub fn checkpoint_key(path: &[String]) -> String {
    let path = path.join(".");
    TO_CHECKPOINT.iter().fold(path, |k, (re, to)| {
        re.replace_all(&k, to.as_str()).into_owned()
    })
}

/// Loads `weights` (diffusers-layout keys) into `module`. Errors name the file, key and shapes.
pub fn load_into<B: Backend, M: Module<B>>(
    module: M,
    weights: &WeightMap,
    mode: LoadMode,
) -> Result<(M, LoadReport)> {
    load_into_owned(module, weights.clone(), mode)
}

/// [`load_into`] that consumes the map: each tensor moves into the module, so the weights are
/// held once (not once in the map and once in the module) while loading.
pub fn load_into_owned<B: Backend, M: Module<B>>(
    mut module: M,
    weights: WeightMap,
    mode: LoadMode,
) -> Result<(M, LoadReport)> {
    let report = load_map(&mut module, weights, UNET_RENAMES, mode)?;
    Ok((module, report))
}

/// Lists `(checkpoint key, shape in checkpoint layout)` of every parameter of `module`.
pub fn parameter_keys<B: Backend, M: Module<B>>(module: &M) -> Vec<(String, Vec<usize>)> {
    struct Lister {
        stack: Vec<(String, String)>,
        out: Vec<(String, Vec<usize>)>,
    }
    impl<B: Backend> burn::module::ModuleVisitor<B> for Lister {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            self.stack
                .push((name.to_string(), container_type.to_string()));
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.stack.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let path: Vec<String> = self.stack.iter().map(|(n, _)| n.clone()).collect();
            let mut shape = param.lazy_shape().to_vec();
            if D == 2
                && self
                    .stack
                    .last()
                    .is_some_and(|(n, c)| n == "weight" && c == "Struct:Linear")
            {
                shape.reverse();
            }
            self.out.push((checkpoint_key(&path), shape));
        }
    }
    let mut l = Lister {
        stack: vec![],
        out: vec![],
    };
    module.visit(&mut l);
    l.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use crate::loader::tensors::RawTensor;
    use crate::motion::MotionModuleConfig;

    /// The table's two directions are inverse on every UNet parameter path.
    #[test]
    fn checkpoint_keys_map_back_to_module_paths() {
        let unet = crate::unet::UNet3DConfig::tiny().init::<Cpu>(&Default::default());
        let to_module = |k: &str| {
            UNET_RENAMES.iter().fold(k.to_string(), |k, r| {
                regex::Regex::new(&r.checkpoint_pattern)
                    .unwrap()
                    .replace_all(&k, r.module_replacement.as_ref())
                    .into_owned()
            })
        };
        let keys = parameter_keys(&unet);
        assert!(keys.iter().any(|(k, _)| k.contains(".to_out.0.")));
        assert!(keys.iter().any(|(k, _)| k.contains(".net.2.")));
        for (key, _) in keys {
            assert!(
                !key.contains("to_out.weight") && !key.contains("net_"),
                "{key}"
            );
            let back = to_module(&key);
            assert_eq!(
                checkpoint_key(&back.split('.').map(str::to_string).collect::<Vec<_>>()),
                key
            );
        }
    }

    /// Loading from a borrowed or an owned map gives the same module and report; a leftover key
    /// is refused either way in strict mode.
    #[test]
    fn owned_and_borrowed_loads_agree() {
        let dev = Default::default();
        let config = MotionModuleConfig::new(8)
            .with_heads(2)
            .with_norm_num_groups(4);
        let src = config.init::<Cpu>(&dev);
        let mut w = WeightMap::default();
        for t in crate::train::save::collect(&src, &|p| checkpoint_key(p)) {
            w.tensors.insert(
                t.key,
                RawTensor {
                    shape: t.shape,
                    data: t.data,
                },
            );
        }
        let values = |m: &crate::motion::temporal_transformer::MotionModule<Cpu>| -> Vec<Vec<f32>> {
            crate::train::save::collect(m, &|p| checkpoint_key(p))
                .into_iter()
                .map(|t| t.data)
                .collect()
        };
        let (a, ra) = load_into(config.init::<Cpu>(&dev), &w, LoadMode::Strict).unwrap();
        let (b, rb) =
            load_into_owned(config.init::<Cpu>(&dev), w.clone(), LoadMode::Strict).unwrap();
        assert_eq!(ra, rb);
        assert!(ra.loaded > 10);
        assert_eq!(values(&a), values(&src));
        assert_eq!(values(&b), values(&src));
        w.tensors.insert(
            "extra.weight".into(),
            RawTensor {
                shape: vec![1],
                data: vec![0.0],
            },
        );
        for r in [
            load_into(config.init::<Cpu>(&dev), &w, LoadMode::Strict).map(|_| ()),
            load_into_owned(config.init::<Cpu>(&dev), w.clone(), LoadMode::Strict).map(|_| ()),
        ] {
            assert!(r.unwrap_err().to_string().contains("extra.weight"));
        }
    }
}
