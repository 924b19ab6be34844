#!/usr/bin/env python3
"""Parity fixtures for the Burn UNet3D + AnimateDiff motion modules (model/src/unet, model/src/motion).

Weights are random, rounded to f16 and stored as f16 (both sides compute in f32 with the same values).
Run with the reference venv (torch CPU, diffusers):
    /work/venvs/ref/bin/python tools/parity/make_unet_fixtures.py
Writes model/tests/fixtures/unet/ (committed; the Rust tests read it, CI never runs this script).

What it builds: a tiny random, seeded diffusers `UNetMotionModel` (AnimateDiff v3 layout: motion modules
after every resnet(+attention) pair, none in the mid block) and saves
  - unet_motion.safetensors   every weight under diffusers UNetMotionModel keys,
  - mm_original.safetensors   the motion modules only, under the original AnimateDiff keys
                              (`down_blocks.N.motion_modules.M.temporal_transformer...`, like v3_sd15_mm.ckpt),
  - magic_adapter_s.safetensors a small MagicTime "Magic Adapter S" in its LoRA-processor key layout,
  - io.safetensors            inputs and the reference outputs:
      sample [B,C,F,H,W], encoder_hidden_states [B,L,D], timestep [B],
      out_diffusers   (diffusers' forward: motion GroupNorm over (c, f, h, w) of each video),
      out_per_frame   (the original AnimateDiff motion module: GroupNorm per frame),
      out_lora_s      (diffusers' forward after the official MagicTime merge rule W += a (2 up)(2 down)),
  - config.json               the tiny config (also written as Rust `UNet3DConfig::parity()`),
  - pipeline_io.safetensors   a 3-step CFG DDIM sampling run (AnimateDiff pipeline steps written out:
                              text encoder → cond/uncond batch → UNet → guidance 8.5 → DDIM → VAE per
                              frame) with this UNet and the tiny CLIP text model and VAE that
                              tools/parity/make_clip_vae_fixtures.py committed under
                              model/tests/fixtures/clip_vae/ (read from there, not regenerated).
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from diffusers import UNetMotionModel

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "model", "tests", "fixtures", "unet")

CONFIG = dict(
    in_channels=4,
    out_channels=4,
    down_block_types=("CrossAttnDownBlockMotion", "DownBlockMotion"),
    up_block_types=("UpBlockMotion", "CrossAttnUpBlockMotion"),
    block_out_channels=(32, 48),
    layers_per_block=1,
    norm_num_groups=8,
    norm_eps=1e-5,
    cross_attention_dim=32,  # = the tiny CLIP of make_clip_vae_fixtures.py
    num_attention_heads=2,
    motion_num_attention_heads=2,
    motion_max_seq_length=32,
    use_motion_mid_block=False,
)


def randomize(model, gen):
    """Every parameter random (the zero-initialised proj_out too), norms around 1."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and p.dim() == 1:  # GroupNorm / LayerNorm scale
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else 16
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in**0.5)
            # stored as f16 (small fixtures): round here so torch computes with exactly the stored values
            p.copy_(p.half().float())


class PerFrameGroupNorm(torch.nn.Module):
    """The original AnimateDiff motion module normalises each frame: (b f) c h w."""

    def __init__(self, gn):
        super().__init__()
        self.gn = gn

    def forward(self, x):  # [b, c, f, h, w]
        b, c, f, h, w = x.shape
        y = self.gn(x.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w))
        return y.reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4)


def to_original_motion_key(key):
    """diffusers MotionAdapter/UNetMotionModel motion-module key -> original AnimateDiff key."""
    head, tail = key.split(".motion_modules.", 1)
    idx, rest = tail.split(".", 1)
    for d, o in [
        (".attn1.", ".attention_blocks.0."),
        (".attn2.", ".attention_blocks.1."),
        (".norm1.", ".norms.0."),
        (".norm2.", ".norms.1."),
        (".norm3.", ".ff_norm."),
        (".pos_embed.", ".attention_blocks.0.pos_encoder."),
    ]:
        rest = ("." + rest).replace(d, o)[1:]
    return f"{head}.motion_modules.{idx}.temporal_transformer.{rest}"


def forward(unet, sample, ehs, t):
    f = sample.shape[2]
    ehs_f = ehs.repeat_interleave(f, dim=0)  # what AnimateDiffPipeline does: one text context per frame
    return unet(sample, t, encoder_hidden_states=ehs_f).sample


def pipeline(unet, gen):
    """A full 3-step classifier-free-guidance DDIM run, as AnimateDiffPipeline.__call__ does it."""
    from diffusers import AutoencoderKL, DDIMScheduler
    from safetensors.torch import load_file
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    cv = os.path.join(OUT, "..", "clip_vae")
    tcfg = CLIPTextConfig.from_pretrained(os.path.join(cv, "clip_text_config.json"))
    text = CLIPTextModelWithProjection(tcfg).eval()
    text.load_state_dict(load_file(os.path.join(cv, "clip_text.safetensors")))  # strict: every key used
    vcfg = json.load(open(os.path.join(cv, "vae_config.json")))
    vcfg = {k: v for k, v in vcfg.items() if not k.startswith("_")}
    vae = AutoencoderKL(**vcfg).eval()
    vae.load_state_dict(load_file(os.path.join(cv, "vae.safetensors")))
    sched = DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="linear",
                          steps_offset=1, clip_sample=False, set_alpha_to_one=True)
    steps, cfg, f, h, w = 3, 8.5, 3, 16, 16
    ids_cond = torch.randint(0, tcfg.vocab_size - 2, (1, 77), generator=gen)
    ids_cond[0, 0] = tcfg.bos_token_id
    ids_cond[0, 9:] = tcfg.eos_token_id
    ids_uncond = torch.full((1, 77), tcfg.eos_token_id)
    ids_uncond[0, 0] = tcfg.bos_token_id
    latents = torch.randn(1, 4, f, h, w, generator=gen) * sched.init_noise_sigma
    init = latents.clone()
    with torch.no_grad():
        # 1. encode prompt: [uncond, cond]
        emb = torch.cat([text(ids_uncond).last_hidden_state, text(ids_cond).last_hidden_state])
        # 2. denoise with guidance
        sched.set_timesteps(steps)
        for t in sched.timesteps:
            inp = sched.scale_model_input(torch.cat([latents] * 2), t)
            eps = unet(inp, t, encoder_hidden_states=emb.repeat_interleave(f, dim=0)).sample
            eps_u, eps_c = eps.chunk(2)
            eps = eps_u + cfg * (eps_c - eps_u)
            latents = sched.step(eps, t, latents).prev_sample
        # 3. decode frame by frame
        z = (latents / vae.config.scaling_factor).permute(0, 2, 1, 3, 4).reshape(f, 4, h, w)
        video = torch.cat([vae.decode(z[i : i + 1]).sample for i in range(f)])
        video = video.reshape(1, f, 3, video.shape[-2], video.shape[-1]).permute(0, 2, 1, 3, 4)
        video = (video / 2 + 0.5).clamp(0, 1)
    save_file(
        {
            "ids_cond": ids_cond.float(),
            "ids_uncond": ids_uncond.float(),
            "latents_init": init.contiguous(),
            "latents_final": latents.contiguous(),
            "video": video.contiguous(),
            "timesteps": sched.timesteps.float(),
        },
        os.path.join(OUT, "pipeline_io.safetensors"),
    )
    print(f"pipeline: timesteps {sched.timesteps.tolist()}, video {tuple(video.shape)} mean {video.mean():.4f}",
          file=sys.stderr)


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    unet = UNetMotionModel(**CONFIG).eval()
    randomize(unet, gen)
    sd = {k: v.detach().clone().contiguous() for k, v in unet.state_dict().items()}  # copies, not views
    sd16 = {k: v.half() for k, v in sd.items()}

    b, f, h, w = 2, 3, 16, 16
    sample = torch.randn(b, 4, f, h, w, generator=gen)
    ehs = torch.randn(b, 7, CONFIG["cross_attention_dim"], generator=gen)
    t = torch.tensor([981.0, 981.0])

    with torch.no_grad():
        out_diffusers = forward(unet, sample, ehs, t)

        # original AnimateDiff motion-module normalisation (per frame)
        saved = {}
        for name, mod in unet.named_modules():
            if name.endswith(tuple(f"motion_modules.{i}" for i in range(8))):
                saved[name] = mod.norm
                mod.norm = PerFrameGroupNorm(mod.norm)
        out_per_frame = forward(unet, sample, ehs, t)
        for name, mod in unet.named_modules():
            if name in saved:
                mod.norm = saved[name]

        # Magic Adapter S: LoRA-processor keys on spatial attention q/k/v/out (attn1 and attn2)
        rank = 4
        lora = {}
        for k, v in sd.items():
            if ".attentions." in k and (".attn1." in k or ".attn2." in k) and k.endswith("weight") and "to_" in k:
                proj = k.split(".")[-2] if not k.endswith("to_out.0.weight") else "to_out"
                attn = "attn1" if ".attn1." in k else "attn2"
                prefix = k[: k.index(f".{attn}.")] + f".{attn}.processor.{proj}_lora"
                out_f, in_f = v.shape
                lora[prefix + ".down.weight"] = (0.1 * torch.randn(rank, in_f, generator=gen)).half().float()
                lora[prefix + ".up.weight"] = (0.1 * torch.randn(out_f, rank, generator=gen)).half().float()
        alpha = 1.0
        merged = dict(unet.state_dict())
        for key in lora:  # the official MagicTime load_diffusers_lora rule
            if "up." in key:
                continue
            up_key = key.replace(".down.", ".up.")
            model_key = key.replace("processor.", "").replace("_lora", "").replace("down.", "").replace("up.", "")
            model_key = model_key.replace("to_out.", "to_out.0.")
            merged[model_key] = merged[model_key] + alpha * torch.mm(lora[up_key] * 2, lora[key] * 2)
        unet.load_state_dict(merged)
        out_lora_s = forward(unet, sample, ehs, t)

    os.makedirs(OUT, exist_ok=True)
    save_file(sd16, os.path.join(OUT, "unet_motion.safetensors"))
    mm = {to_original_motion_key(k): v for k, v in sd16.items() if ".motion_modules." in k}
    save_file(mm, os.path.join(OUT, "mm_original.safetensors"))
    save_file({k: v.half().contiguous() for k, v in lora.items()}, os.path.join(OUT, "magic_adapter_s.safetensors"))
    save_file(
        {
            "sample": sample,
            "encoder_hidden_states": ehs,
            "timestep": t,
            "out_diffusers": out_diffusers.contiguous(),
            "out_per_frame": out_per_frame.contiguous(),
            "out_lora_s": out_lora_s.contiguous(),
        },
        os.path.join(OUT, "io.safetensors"),
    )
    with open(os.path.join(OUT, "config.json"), "w") as fh:
        json.dump(CONFIG, fh, indent=1)
    with torch.no_grad():
        unet.load_state_dict(sd)  # back to the weights without the adapter
    pipeline(unet, gen)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {OUT}: {total} bytes; out_diffusers std {out_diffusers.std():.4f}, "
          f"|per_frame - diffusers| max {(out_per_frame - out_diffusers).abs().max():.4f}, "
          f"|lora - diffusers| max {(out_lora_s - out_diffusers).abs().max():.4f}", file=sys.stderr)


if __name__ == "__main__":
    main()
