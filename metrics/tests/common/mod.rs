//! Shared helpers of the integration tests: reading committed safetensors fixtures; the metrics'
//! formulas written out as test oracles (`formulas`).
#![allow(dead_code)]

pub mod formulas;

use std::path::PathBuf;

use safetensors::{Dtype, SafeTensors};

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

pub struct Fixture {
    bytes: Vec<u8>,
    pub name: String,
}

impl Fixture {
    pub fn open(name: &str) -> Self {
        let path = fixture_path(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self {
            bytes,
            name: name.into(),
        }
    }

    fn tensors(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("valid safetensors")
    }

    pub fn shape(&self, key: &str) -> Vec<usize> {
        self.tensors().tensor(key).unwrap().shape().to_vec()
    }

    /// Any float/int tensor as f64.
    pub fn f64s(&self, key: &str) -> Vec<f64> {
        let st = self.tensors();
        let t = st
            .tensor(key)
            .unwrap_or_else(|_| panic!("{}: no key {key}", self.name));
        let b = t.data();
        match t.dtype() {
            Dtype::F64 => b
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            Dtype::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            Dtype::I64 => b
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            other => panic!("{key}: unsupported dtype {other:?}"),
        }
    }

    pub fn f32s(&self, key: &str) -> Vec<f32> {
        self.f64s(key).into_iter().map(|v| v as f32).collect()
    }

    pub fn scalar(&self, key: &str) -> f64 {
        self.f64s(key)[0]
    }
}

pub fn rel_err(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}
