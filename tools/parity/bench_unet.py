#!/usr/bin/env python3
"""Reference side of `make model-bench` (model/examples/bench_unet.rs): diffusers UNetMotionModel with
torch, timed per denoising step (one UNet call on the CFG batch of 2 videos). On the CPU in f32 by
default; `--device cuda --dtype f16` is the GPU reference (PyTorch fp16, as SD1.5 is run on GPUs).

Builds the benchmark config (channels 64/128/256, SD1.5 block layout, 8 heads, cross-attention 768,
AnimateDiff v3 motion modules, none in the mid block) with seeded random weights, writes
  DIR/bench_unet.safetensors   the weights (diffusers keys, f32) for the Burn side,
  DIR/bench_inputs.safetensors sample [2, 4, F, S, S], encoder_hidden_states [2, 77, 768], timestep [2],
  DIR/bench_ref_out.safetensors torch's output (the Burn side checks it computes the same thing),
and prints one JSON line: seconds per step, attention share (time inside every `Attention` module,
spatial and temporal, projections included; on CUDA each module is synchronised, so the share
includes those waits), peak RSS of this process, and on CUDA the peak GPU memory. The weights,
inputs and output are written in f32 whatever `--dtype` runs.
"""
import argparse
import json
import os
import resource
import time

import torch
from safetensors.torch import save_file
from diffusers import UNetMotionModel
from diffusers.models.attention_processor import Attention

CONFIG = dict(
    in_channels=4,
    out_channels=4,
    down_block_types=("CrossAttnDownBlockMotion", "CrossAttnDownBlockMotion", "DownBlockMotion"),
    up_block_types=("UpBlockMotion", "CrossAttnUpBlockMotion", "CrossAttnUpBlockMotion"),
    block_out_channels=(64, 128, 256),
    layers_per_block=2,
    norm_num_groups=32,
    cross_attention_dim=768,
    num_attention_heads=8,
    motion_num_attention_heads=8,
    motion_max_seq_length=32,
    use_motion_mid_block=False,
)


SD15 = dict(
    CONFIG,
    down_block_types=("CrossAttnDownBlockMotion",) * 3 + ("DownBlockMotion",),
    up_block_types=("UpBlockMotion",) + ("CrossAttnUpBlockMotion",) * 3,
    block_out_channels=(320, 640, 1280, 1280),
)


def randomize(model, gen):
    """Seeded weights: norm scales around 1, everything else N(0, 1/fan_in)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and p.dim() == 1:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else 16
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in**0.5)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def vae_decode(out, gen, device, dtype):
    """SD1.5's VAE (diffusers' AutoencoderKL defaults + SD1.5 widths), random weights written for
    the Burn side; one 4x64x64 latent decoded (warm-up, then timed)."""
    from diffusers import AutoencoderKL

    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        norm_num_groups=32, sample_size=512, scaling_factor=0.18215).eval()
    randomize(vae, gen)
    vae.save_config(out)
    os.replace(os.path.join(out, "config.json"), os.path.join(out, "bench_vae_config.json"))
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, os.path.join(out, "bench_vae.safetensors"))
    z = torch.randn(1, 4, 64, 64, generator=gen)
    vae = vae.to(device=device, dtype=dtype)
    with torch.no_grad():
        vae.decode(z.to(device=device, dtype=dtype))
        sync(device)
        t0 = time.perf_counter()
        x = vae.decode(z.to(device=device, dtype=dtype)).sample
        sync(device)
        secs = time.perf_counter() - t0
    return z, x.float().cpu(), secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", choices=["bench", "sd15"], default="bench")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--latent", type=int, default=64)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--dtype", choices=["f32", "f16"], default="f32")
    a = ap.parse_args()
    device = torch.device(a.device)
    dtype = torch.float16 if a.dtype == "f16" else torch.float32
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(7)
    unet = UNetMotionModel(**(SD15 if a.preset == "sd15" else CONFIG)).eval()
    randomize(unet, gen)
    os.makedirs(a.out, exist_ok=True)
    save_file({k: v.contiguous() for k, v in unet.state_dict().items()}, os.path.join(a.out, "bench_unet.safetensors"))
    f, s = a.frames, a.latent
    sample = torch.randn(2, 4, f, s, s, generator=gen)
    ehs = torch.randn(2, 77, 768, generator=gen)
    t = torch.tensor([501.0, 501.0])
    save_file({"sample": sample, "encoder_hidden_states": ehs, "timestep": t}, os.path.join(a.out, "bench_inputs.safetensors"))

    attn = {"t": 0.0, "depth": 0}

    def pre(mod, inp):
        if attn["depth"] == 0:
            sync(device)
            attn["start"] = time.perf_counter()
        attn["depth"] += 1

    def post(mod, inp, out):
        attn["depth"] -= 1
        if attn["depth"] == 0:
            sync(device)
            attn["t"] += time.perf_counter() - attn["start"]

    for m in unet.modules():
        if isinstance(m, Attention):
            m.register_forward_pre_hook(pre)
            m.register_forward_hook(post)

    unet = unet.to(device=device, dtype=dtype)
    x_in = sample.to(device=device, dtype=dtype)
    t_in = t.to(device)
    ehs_f = ehs.repeat_interleave(f, dim=0).to(device=device, dtype=dtype)
    with torch.no_grad():
        for _ in range(a.warmup):
            out = unet(x_in, t_in, encoder_hidden_states=ehs_f).sample
        sync(device)
        attn["t"] = 0.0
        t0 = time.perf_counter()
        for _ in range(a.steps):
            out = unet(x_in, t_in, encoder_hidden_states=ehs_f).sample
        sync(device)
        total = time.perf_counter() - t0
    outputs, vae_sec = {"out": out.float().cpu().contiguous()}, None
    if a.preset == "sd15":
        params = sum(p.numel() for p in unet.parameters())
        del unet
        if device.type == "cuda":
            torch.cuda.empty_cache()
        z, x, vae_sec = vae_decode(a.out, gen, device, dtype)
        outputs["vae_out"] = x.contiguous()
        inputs = dict(sample=sample, encoder_hidden_states=ehs, timestep=t, vae_latent=z)
        save_file(inputs, os.path.join(a.out, "bench_inputs.safetensors"))
    else:
        params = sum(p.numel() for p in unet.parameters())
    save_file(outputs, os.path.join(a.out, "bench_ref_out.safetensors"))
    print(json.dumps({
        "torch": torch.__version__,
        "device": str(device) + (" " + torch.cuda.get_device_name(device) if device.type == "cuda" else ""),
        "dtype": a.dtype,
        "peak_gpu_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        "sec_per_step": total / a.steps,
        "attn_share": attn["t"] / total,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "params": params,
        "vae_decode_sec": vae_sec,
    }))


if __name__ == "__main__":
    main()
