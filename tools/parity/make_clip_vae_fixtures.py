#!/usr/bin/env python3
"""Parity fixtures for the model crate's CLIP, VAE, schedulers and tokenizer.

Run with the reference env (torch CPU, diffusers, transformers):
    /work/venvs/ref/bin/python tools/parity/make_clip_vae_fixtures.py
Writes model/tests/fixtures/clip_vae/. Not run in CI: the outputs are committed and this file is
the record of how they were made. Everything is seeded; every network is a TINY random config
saved in its upstream key layout (transformers / diffusers), so the Rust loaders are exercised.
"""
import gzip
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "model", "tests", "fixtures", "clip_vae")
VOCAB = os.path.join(ROOT, "model", "assets", "bpe_simple_vocab_16e6.txt.gz")
torch.set_grad_enabled(False)


def save(name, tensors, meta=None):
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    save_file(tensors, os.path.join(OUT, name), metadata=meta)


def jdump(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def clip_text():
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(1)
    cfg = CLIPTextConfig(
        vocab_size=1000, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
        projection_dim=24, layer_norm_eps=1e-5, bos_token_id=998, eos_token_id=999, pad_token_id=999,
    )
    m = CLIPTextModelWithProjection(cfg).eval()
    for p in m.parameters():  # default init has zero biases / unit norms: randomise everything
        p.copy_(torch.randn_like(p) * 0.2)
    # transformers' layout: text_model.* plus text_projection.weight
    save("clip_text.safetensors", m.state_dict())
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(0, 998, (2, 77), generator=g)
    ids[:, 0] = 998
    ids[0, 9] = 999
    ids[0, 10:] = 999  # padded with eos like SD's tokenizer
    ids[1, 76] = 999
    out = m(input_ids=ids)
    save("clip_text_io.safetensors", {
        "input_ids": ids.to(torch.int32),
        "last_hidden_state": out.last_hidden_state,
        "text_embeds": out.text_embeds,
    })
    jdump("clip_text_config.json", cfg.to_dict())


def clip_vision():
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(3)
    cfg = CLIPVisionConfig(
        hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        image_size=32, patch_size=8, projection_dim=24, hidden_act="quick_gelu", layer_norm_eps=1e-5,
    )
    m = CLIPVisionModelWithProjection(cfg).eval()
    for p in m.parameters():
        p.copy_(torch.randn_like(p) * 0.2)
    save("clip_vision.safetensors", m.state_dict())
    g = torch.Generator().manual_seed(4)
    px = torch.randn(2, 3, 32, 32, generator=g)
    out = m(pixel_values=px)
    save("clip_vision_io.safetensors", {
        "pixel_values": px,
        "last_hidden_state": out.last_hidden_state,
        "image_embeds": out.image_embeds,
    })
    jdump("clip_vision_config.json", cfg.to_dict())


def image_preprocess():
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    from PIL import Image

    proc = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    rng = np.random.default_rng(5)
    out = {}
    for name, (h, w) in {"down": (57, 70), "up": (20, 27), "tall": (90, 41)}.items():
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) % 37 * 7], -1)
        img = np.clip(img + rng.integers(-30, 30, img.shape), 0, 255).astype(np.uint8)
        pv = proc(images=Image.fromarray(img), return_tensors="pt")["pixel_values"]
        out[f"{name}_image"] = torch.from_numpy(img)  # [H, W, 3] uint8
        out[f"{name}_pixel_values"] = pv  # [1, 3, 32, 32]
        # Pillow >= 13 may run the vertical pass first (python-pillow/Pillow#9549); Pillow <= 12
        # always ran horizontal then vertical. Record that classic order explicitly too: two
        # single-axis PIL resizes, then the same crop / rescale / normalise.
        oh, ow = (int(32 * h / w), 32) if w <= h else (32, int(32 * w / h))
        hv = Image.fromarray(img).resize((ow, h), Image.BICUBIC).resize((ow, oh), Image.BICUBIC)
        top, left = (oh - 32) // 2, (ow - 32) // 2
        a = np.asarray(hv).astype(np.float64)[top:top + 32, left:left + 32] / 255.0
        a = (a - np.array(proc.image_mean)) / np.array(proc.image_std)
        out[f"{name}_pixel_values_hv"] = torch.from_numpy(a.transpose(2, 0, 1)[None].astype(np.float32))
    save("clip_preprocess.safetensors", out)


def vae():
    from diffusers import AutoencoderKL

    torch.manual_seed(6)
    m = AutoencoderKL(
        in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 16), layers_per_block=1, latent_channels=4, norm_num_groups=4,
        sample_size=16, scaling_factor=0.18215,
    ).eval()
    for p in m.parameters():
        p.copy_(torch.randn_like(p) * 0.15)
    save("vae.safetensors", m.state_dict())
    g = torch.Generator().manual_seed(7)
    x = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    z = torch.randn(2, 4, 8, 8, generator=g)
    moments = m.quant_conv(m.encoder(x))
    dec = m.decode(z).sample
    # 5-D frames [B, C, F, H, W] decoded frame by frame, as AnimateDiff's pipeline does
    zf = torch.randn(1, 4, 3, 8, 8, generator=g)
    frames = torch.cat([m.decode(zf[:, :, i]).sample.unsqueeze(2) for i in range(zf.shape[2])], 2)
    save("vae_io.safetensors", {
        "sample": x, "moments": moments, "latents": z, "decoded": dec,
        "frame_latents": zf, "frames": frames,
    })
    jdump("vae_config.json", dict(m.config))


def ldm_vae_keys(vae, n):
    """diffusers AutoencoderKL state dict (n blocks) -> original-LDM keys under
    `first_stage_model.` (the inverse of diffusers' convert_ldm_vae_checkpoint)."""
    import re

    ldm = {}
    for k, v in vae.items():
        m = k
        m = re.sub(r"^encoder\.down_blocks\.(\d+)\.resnets\.", r"encoder.down.\1.block.", m)
        m = re.sub(r"^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.", r"encoder.down.\1.downsample.conv.", m)
        mu = re.match(r"^decoder\.up_blocks\.(\d+)\.(resnets|upsamplers\.0\.conv)\.(.*)$", m)
        if mu:
            i = n - 1 - int(mu.group(1))
            part = "block" if mu.group(2) == "resnets" else "upsample.conv"
            m = f"decoder.up.{i}.{part}.{mu.group(3)}"
        m = re.sub(r"\.mid_block\.resnets\.0\.", ".mid.block_1.", m)
        m = re.sub(r"\.mid_block\.resnets\.1\.", ".mid.block_2.", m)
        m = re.sub(r"\.mid_block\.attentions\.0\.group_norm\.", ".mid.attn_1.norm.", m)
        m = re.sub(r"\.mid_block\.attentions\.0\.to_(q|k|v)\.", r".mid.attn_1.\1.", m)
        m = re.sub(r"\.mid_block\.attentions\.0\.to_out\.0\.", ".mid.attn_1.proj_out.", m)
        m = m.replace(".conv_shortcut.", ".nin_shortcut.").replace("conv_norm_out", "norm_out")
        if ".attn_1." in m and m.endswith("weight") and v.dim() == 2:
            v = v[:, :, None, None]  # LDM attention projections are 1x1 convs
        ldm["first_stage_model." + m] = v
    return ldm


def single_file():
    """An original-LDM single-file checkpoint (as DreamBooth models ship) holding the tiny VAE and
    text encoder above. Written with the inverse of diffusers' key conversion, then checked:
    diffusers' own convert_ldm_vae_checkpoint / convert_ldm_clip_checkpoint must give back the
    diffusers / transformers state dicts exactly."""
    from safetensors.torch import load_file
    from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint, convert_ldm_vae_checkpoint

    vae = load_file(os.path.join(OUT, "vae.safetensors"))
    n = 2  # blocks of the tiny VAE
    ldm = ldm_vae_keys(vae, n)
    back = convert_ldm_vae_checkpoint(ldm, {"down_block_types": [0] * n, "up_block_types": [0] * n})
    assert set(back) == set(vae), set(back) ^ set(vae)
    assert all(torch.equal(back[k], vae[k]) for k in vae)
    text = load_file(os.path.join(OUT, "clip_text.safetensors"))
    text = {k: v for k, v in text.items() if k.startswith("text_model.")}
    for k, v in text.items():
        ldm["cond_stage_model.transformer." + k] = v
    assert convert_ldm_clip_checkpoint({k: v for k, v in ldm.items() if k.startswith("cond_")}).keys() == text.keys()
    ldm["model.diffusion_model.time_embed.0.weight"] = torch.zeros(4, 4)  # a UNet key to be ignored
    save("single_file_ldm.safetensors", ldm)


def vae_f16_pickle():
    """The tiny VAE as a PyTorch pickle with f16 tensors (diffusion_pytorch_model.bin style), and
    the decode of the same f16-rounded weights in f32."""
    from diffusers import AutoencoderKL
    from safetensors.torch import load_file

    cfg = json.load(open(os.path.join(OUT, "vae_config.json")))
    keep = ["in_channels", "out_channels", "down_block_types", "up_block_types", "block_out_channels",
            "layers_per_block", "latent_channels", "norm_num_groups", "sample_size", "scaling_factor"]
    m = AutoencoderKL(**{k: cfg[k] for k in keep}).eval()
    sd16 = {k: v.half() for k, v in load_file(os.path.join(OUT, "vae.safetensors")).items()}
    torch.save(sd16, os.path.join(OUT, "vae_f16.bin"))
    m.load_state_dict({k: v.float() for k, v in sd16.items()})
    z = load_file(os.path.join(OUT, "vae_io.safetensors"))["latents"]
    save("vae_f16_io.safetensors", {"decoded": m.decode(z).sample})


def peft_text_adapter():
    """A real PEFT LoRA adapter folder (save_pretrained) on the tiny text encoder, as MagicTime's
    magic_text_encoder/ is laid out, and the adapted model's output. Needs `peft` on the path
    (e.g. pip install --target DIR --no-deps peft; PYTHONPATH=DIR)."""
    import shutil
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = CLIPTextConfig(**{k: v for k, v in json.load(open(os.path.join(OUT, "clip_text_config.json"))).items()
                            if k not in ("architectures", "transformers_version")})
    m = CLIPTextModel(cfg).eval()
    sd = {k: v for k, v in load_file(os.path.join(OUT, "clip_text.safetensors")).items() if k.startswith("text_model.")}
    # transformers 5 dropped the `text_model.` level inside CLIPTextModel (4.x, MagicTime's era, had it)
    flat = not any(k.startswith("text_model.") for k in m.state_dict())
    m.load_state_dict({k.removeprefix("text_model.") if flat else k: v for k, v in sd.items()})
    torch.manual_seed(9)
    pm = get_peft_model(m, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "out_proj"]))
    for n, p in pm.named_parameters():
        if "lora_B" in n:  # PEFT initialises B = 0; make the adapter do something
            p.copy_(torch.randn_like(p) * 0.2)
    d = os.path.join(OUT, "peft_text_adapter")
    shutil.rmtree(d, ignore_errors=True)
    pm.save_pretrained(d)
    for f in os.listdir(d):
        if f not in ("adapter_config.json", "adapter_model.safetensors"):
            os.remove(os.path.join(d, f))
    ids = load_file(os.path.join(OUT, "clip_text_io.safetensors"))["input_ids"].long()
    out = pm(input_ids=ids).last_hidden_state
    save("peft_text_io.safetensors", {"last_hidden_state": out})


def schedulers():
    from diffusers import DDIMScheduler, DDPMScheduler

    res = {"ddim": [], "ddpm": []}
    tensors = {}
    g = torch.Generator().manual_seed(8)
    sample = torch.randn(1, 4, 2, 3, 3, generator=g)
    eps = torch.randn(1, 4, 2, 3, 3, generator=g)
    tensors["sample"] = sample
    tensors["model_output"] = eps
    for sched_name in ["linear", "scaled_linear"]:
        for one in [True, False]:
            for pred in ["epsilon", "v_prediction"]:
                for n in [3, 25, 50]:
                    s = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule=sched_name,
                                      steps_offset=1, clip_sample=False, set_alpha_to_one=one,
                                      prediction_type=pred)
                    s.set_timesteps(n)
                    key = f"ddim_{sched_name}_{int(one)}_{pred}_{n}"
                    ts = [int(t) for t in s.timesteps]
                    x = sample.clone()
                    for i, t in enumerate(ts[:3]):
                        x = s.step(eps * (1 + 0.1 * i), t, x, eta=0.0).prev_sample
                    tensors[key] = x
                    res["ddim"].append({"key": key, "beta_schedule": sched_name, "set_alpha_to_one": one,
                                        "prediction_type": pred, "steps": n, "timesteps": ts,
                                        "alphas_cumprod_0_500_999": [float(s.alphas_cumprod[i]) for i in (0, 500, 999)]})
        s = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule=sched_name, clip_sample=False)
        key = f"ddpm_{sched_name}"
        t = torch.tensor([10, 999])
        noise = torch.randn(2, 4, 2, 3, 3, generator=g)
        x0 = torch.randn(2, 4, 2, 3, 3, generator=g)
        tensors[f"{key}_x0"] = x0
        tensors[f"{key}_noise"] = noise
        tensors[f"{key}_noisy"] = s.add_noise(x0, noise, t)
        tensors[f"{key}_velocity"] = s.get_velocity(x0, noise, t)
        s.set_timesteps(1000)
        for tt in [0, 1, 500, 999]:
            vn = torch.randn(sample.shape, generator=torch.Generator().manual_seed(100 + tt))
            out = s.step(eps, tt, sample, generator=torch.Generator().manual_seed(100 + tt)).prev_sample
            tensors[f"{key}_step{tt}_noise"] = vn
            tensors[f"{key}_step{tt}"] = out
        s2 = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule=sched_name, clip_sample=False)
        s2.set_timesteps(25)
        res["ddpm"].append({"key": key, "beta_schedule": sched_name, "timesteps_25": [int(x) for x in s2.timesteps],
                            "add_noise_t": [10, 999]})
    save("schedulers.safetensors", tensors)
    jdump("schedulers.json", res)


def clip_tokenizer():
    """transformers' CLIPTokenizer over the committed BPE vocabulary (the Rust tokenizer's)."""
    from transformers import CLIPTokenizer

    # vocab/merges exactly as OpenAI's simple_tokenizer builds them from the committed gz file
    merges = gzip.open(VOCAB).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in merges]
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_chars = [chr(c) for c in cs]
    vocab = byte_chars + [v + "</w>" for v in byte_chars] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={v: i for i, v in enumerate(vocab)}, merges=merges)


def tokenizer():
    tok = clip_tokenizer()
    vocab = tok.get_vocab()
    prompts = [
        "a flower blooming, time-lapse",
        "Bean sprouts grow and mature from seeds.",
        "An ice cube is melting.   Slowly!!",
        "worst quality, low quality, letterboxed",
        "",
        "Café naïve façade — émigré résumé",
        "it's they're we've I'm you'll he'd",
        "3D render of 2024 skyscrapers rising 100m",
        "emoji 🌸🌼 and 日本語のテキスト",
        "C++/Rust: x<=y && a->b #hashtag @user",
        "<|startoftext|>hello<|endoftext|>",
        "word " * 100,
    ]
    res = []
    for p in prompts:
        full = tok(p)["input_ids"]
        padded = tok(p, padding="max_length", max_length=77, truncation=True)["input_ids"]
        res.append({"prompt": p, "ids": full, "padded_77": padded})
    jdump("tokenizer.json", {"vocab_size": len(vocab), "cases": res})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    parts = sys.argv[1:] or ["clip_text", "clip_vision", "image_preprocess", "vae", "single_file", "vae_f16_pickle", "peft_text_adapter", "schedulers", "tokenizer"]
    for p in parts:
        globals()[p]()
        print("ok", p)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"total {total} bytes in {OUT}")
