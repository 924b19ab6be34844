//! Model crate: MagicTime network stack in Burn (CLIP, UNet3D + motion modules, VAE, LoRA adapters, schedulers, pipeline).
