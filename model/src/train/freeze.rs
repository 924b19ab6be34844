//! Freeze / unfreeze helpers for partial training (e.g. adapters on a frozen base, as the
//! MagicTime paper trains Magic Adapters on top of a frozen base model).

use burn::module::Module;
use burn::tensor::backend::AutodiffBackend;

/// Every parameter of `module` stops requiring gradients (the optimizer leaves it alone).
pub fn freeze<B: AutodiffBackend, M: Module<B>>(module: M) -> M {
    module.no_grad()
}

/// The mapper that makes every parameter it visits require gradients.
pub struct Unfreeze;

impl<B: burn::tensor::backend::Backend> burn::module::ModuleMapper<B> for Unfreeze {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<burn::tensor::Tensor<B, D>>,
    ) -> burn::module::Param<burn::tensor::Tensor<B, D>> {
        param.set_require_grad(true)
    }
}

/// Every parameter of `module` requires gradients again.
pub fn unfreeze<B: AutodiffBackend, M: Module<B>>(module: M) -> M {
    module.map(&mut Unfreeze)
}

/// Number of parameters that currently require gradients.
pub fn trainable_params<B: AutodiffBackend, M: Module<B>>(module: &M) -> usize {
    struct Count(usize);
    impl<B: burn::tensor::backend::Backend> burn::module::ModuleVisitor<B> for Count {
        fn visit_float<const D: usize>(
            &mut self,
            param: &burn::module::Param<burn::tensor::Tensor<B, D>>,
        ) {
            if param.val().is_require_grad() {
                self.0 += param.lazy_shape().num_elements();
            }
        }
    }
    let mut c = Count(0);
    module.visit(&mut c);
    c.0
}
