//! Fused CPU kernels for the hot spots of the UNet on burn-flex: attention, GroupNorm (+SiLU),
//! LayerNorm and GEGLU.
//!
//! Burn 0.21's flex backend composes these from generic ops: several passes over memory with a
//! temporary per op, and a scalar `exp`/`erf` per element (its softmax and its flash attention
//! call `f32::exp` one score at a time). At 64×64 latents the spatial self-attention alone
//! evaluates billions of exponentials per denoising step, so that scalar `exp` dominated the
//! step time. Each kernel here is one pass (or one pass per statistic) over contiguous `f32`
//! data, parallel with rayon and compiled for AVX-512 / AVX2+FMA with runtime selection
//! (`multiversion`).
//!
//! The modules stay generic over `B: Backend`: [`is_flex_f32`] hands a tensor to a kernel only
//! when the backend *is* [`Flex`] (not `Autodiff<Flex>`: training keeps Burn's differentiable
//! ops) and the data is `f32`; every other backend (CUDA, autodiff) takes the generic path,
//! which remains the reference the kernels are tested against.

pub mod attention;
pub mod geglu;
pub mod layout;
pub mod math;
pub mod norm;

use std::any::{Any, TypeId};

use burn::backend::flex::FlexTensor;
use burn::backend::Flex;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData, TensorPrimitive};

/// Whether the kernels can take `t`: backend `B` is [`Flex`] itself and the values are `f32`.
pub(crate) fn is_flex_f32<B: Backend, const D: usize>(t: &Tensor<B, D>) -> bool {
    TypeId::of::<B>() == TypeId::of::<Flex>() && t.dtype() == DType::F32
}

/// The contiguous flex tensor behind `t` (only after [`is_flex_f32`] said yes).
pub(crate) fn flex_f32<B: Backend, const D: usize>(t: Tensor<B, D>) -> FlexTensor {
    let mut prim = Some(t.into_primitive().tensor());
    let any: &mut dyn Any = &mut prim;
    let flex = any
        .downcast_mut::<Option<FlexTensor>>()
        .and_then(Option::take)
        .expect("only called after is_flex_f32: B is Flex, its float primitive a FlexTensor");
    // no copy when the layout already is contiguous
    if flex.as_slice::<f32>().is_some() {
        flex
    } else {
        flex.to_contiguous()
    }
}

/// `f32` values of `shape` as a tensor of backend `B` (after [`is_flex_f32`] said yes).
pub(crate) fn flex_tensor<B: Backend, const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
) -> Tensor<B, D> {
    let mut prim = Some(FlexTensor::from_data(TensorData::new(values, shape)));
    let any: &mut dyn Any = &mut prim;
    let prim = any
        .downcast_mut::<Option<B::FloatTensorPrimitive>>()
        .and_then(Option::take)
        .expect("only called after is_flex_f32: B is Flex");
    Tensor::from_primitive(TensorPrimitive::Float(prim))
}

/// The `f32` values of a tensor [`flex_f32`] returned.
pub(crate) fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("flex_f32 returns contiguous f32 tensors")
}
