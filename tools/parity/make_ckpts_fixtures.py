#!/usr/bin/env python3
"""A tiny random copy of MagicTime's official `ckpts/` tree, and the diffusers/peft reference of
what its sample configs generate.

Run with the reference venv and peft on the path (`make model-ckpts-fixtures`). Writes
model/tests/fixtures/ckpts/ (committed; the Rust tests read it, CI never runs this script):

    ckpts/Base_Model/stable-diffusion-v1-5/   diffusers SD1.5 layout: unet/ (UNet2DConditionModel
                                              config + safetensors), text_encoder/, vae/,
                                              scheduler/, model_index.json (no tokenizer/: the
                                              Rust tokenizer ships its vocabulary)
    ckpts/Base_Model/motion_module/motion_module.ckpt
                                              torch.save of the motion modules, original AnimateDiff
                                              keys (`…motion_modules.M.temporal_transformer.…`)
    ckpts/DreamBooth/<name>.safetensors       original-LDM single files (model.diffusion_model.,
                                              first_stage_model., cond_stage_model.transformer.),
                                              one per sample config, f16 as the real ones
    ckpts/Magic_Weights/magic_adapter_s/magic_adapter_s.ckpt
                                              torch.save, LoRA-processor keys (…attn1.processor.to_q_lora.down.weight)
    ckpts/Magic_Weights/magic_adapter_t/      SWIFT layout: configuration.json,
                                              default/adapter_config.json, default/adapter_model.bin
    ckpts/Magic_Weights/magic_text_encoder/   the same layout, PEFT keys on the CLIP attention
    sample_configs/<Name>.yaml                the upstream schema (two-item list), paths ./ckpts/…
    reference.safetensors                     per config: the prompt's token ids, the initial
                                              latents, the 2-step CFG DDIM latents and the video
    adapter_t_merged.safetensors              the motion-module weights after peft merges
                                              Magic Adapter T (original keys)

The reference loads in MagicTime's order (`utils/util.py` `load_weights`): motion module,
DreamBooth (VAE, UNet, text encoder converted by diffusers' single_file_utils), Magic Adapter S
(the upstream rule W += (2 up)(2 down)), Magic Adapter T and the Magic Text-Encoder (peft merges),
then samples as AnimateDiff's pipeline does (per-frame GroupNorm in the motion modules, as the
original AnimateDiff code that MagicTime runs).

Weights are random and rounded to f16 where they are stored as f16, so both sides compute in f32
with the same values.
"""
import json
import os
import re
import sys

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_clip_vae_fixtures import clip_tokenizer, ldm_vae_keys  # noqa: E402
from make_unet_fixtures import PerFrameGroupNorm, to_original_motion_key  # noqa: E402

OUT = os.path.join(HERE, "..", "..", "model", "tests", "fixtures", "ckpts")
CKPTS = os.path.join(OUT, "ckpts")
BASE = os.path.join(CKPTS, "Base_Model", "stable-diffusion-v1-5")

# One tiny SD1.5-shaped network: 2 levels (cross-attention, plain), 2 heads, text width 8.
TEXT = dict(vocab_size=49408, hidden_size=8, intermediate_size=16, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu",
            layer_norm_eps=1e-5, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
UNET2D = dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
              down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
              up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
              block_out_channels=[16, 32], norm_num_groups=8, norm_eps=1e-5,
              cross_attention_dim=8, attention_head_dim=2)
MOTION_HEADS = 2
VAE = dict(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 2,
           up_block_types=["UpDecoderBlock2D"] * 2, block_out_channels=[8, 16], layers_per_block=1,
           latent_channels=4, norm_num_groups=4, sample_size=16, scaling_factor=0.18215)
SIZE, FRAMES, STEPS, CFG = 16, 4, 2, 8.5
CONFIGS = {  # sample config -> (DreamBooth file, prompt, seed of the reference's noise)
    "RealisticVision": ("RealisticVisionV60B1_v51VAE.safetensors",
                        "Time-lapse of a red tulip opening from a closed bud to full bloom.", 11),
    "ToonYou": ("ToonYou_beta6.safetensors",
                "Time-lapse of ice cubes melting into a puddle on a wooden table.", 12),
    "RcnzCartoon": ("rcnzCartoon3d_v10.safetensors",
                    "Time-lapse of a tower being built, floor by floor, under a blue sky.", 13),
}
NEGATIVE = "worst quality, low quality, letterboxed"
LORA_T = dict(r=4, lora_alpha=8, target_modules=["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out",
                                                 "ff.net.0.proj", "ff.net.2"])
LORA_TE = dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "out_proj"])


def rnd(shape, gen, scale):
    return (torch.randn(shape, generator=gen) * scale).half().float()


def randomize(model, gen):
    """Every parameter random (biases, the zero-initialised proj_out too), norms around 1, f16-exact."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and p.dim() == 1:
                p.copy_((1.0 + 0.1 * torch.randn(p.shape, generator=gen)).half().float())
            else:
                fan_in = p[0].numel() if p.dim() > 1 else 16
                p.copy_(rnd(p.shape, gen, fan_in ** -0.5))


def text_keys(sd):
    """transformers 5 saves CLIPTextModel without the `text_model.` level that SD1.5's
    text_encoder/ and the LDM files have: put it back."""
    return {(k if k.startswith("text_model.") else "text_model." + k): v for k, v in sd.items()}


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=1)


def ldm_unet(sd):
    """diffusers UNet2DConditionModel keys -> original LDM keys (the inverse of diffusers'
    convert_ldm_unet_checkpoint for this layout: 1 resnet per level, 2 levels)."""
    L = UNET2D["layers_per_block"]
    n = len(UNET2D["block_out_channels"])
    table = [("time_embedding.linear_1.", "time_embed.0."), ("time_embedding.linear_2.", "time_embed.2."),
             ("conv_in.", "input_blocks.0.0."), ("conv_norm_out.", "out.0."), ("conv_out.", "out.2.")]
    for i in range(n):
        for j in range(L):
            table.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{1 + i * (L + 1) + j}.0."))
            table.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{1 + i * (L + 1) + j}.1."))
        if i < n - 1:
            table.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{(i + 1) * (L + 1)}.0.op."))
        for j in range(L + 1):
            table.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{i * (L + 1) + j}.0."))
            table.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{i * (L + 1) + j}.1."))
        if i < n - 1:
            has_attn = UNET2D["up_block_types"][i].startswith("CrossAttn")
            table.append((f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{i * (L + 1) + L}.{2 if has_attn else 1}."))
    table += [("mid_block.resnets.0.", "middle_block.0."), ("mid_block.attentions.0.", "middle_block.1."),
              ("mid_block.resnets.1.", "middle_block.2.")]
    inner = [("norm1.", "in_layers.0."), ("conv1.", "in_layers.2."), ("time_emb_proj.", "emb_layers.1."),
             ("norm2.", "out_layers.0."), ("conv2.", "out_layers.3."), ("conv_shortcut.", "skip_connection.")]
    out = {}
    for k, v in sd.items():
        for d, o in table:
            if k.startswith(d):
                rest = k[len(d):]
                if ".resnets." in d or d.startswith("mid_block.resnets"):
                    for a, b in inner:
                        if rest.startswith(a):
                            rest = b + rest[len(a):]
                            break
                out["model.diffusion_model." + o + rest] = v
                break
        else:
            raise KeyError(k)
    return out


def dreambooth(gen, unet_cls, vae_cls, text_cls, text_cfg):
    """A random DreamBooth model: diffusers modules and its LDM single file (checked against
    diffusers' own converters)."""
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint, convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint)

    unet = unet_cls(**UNET2D).eval()
    randomize(unet, gen)
    vae = vae_cls(**VAE).eval()
    randomize(vae, gen)
    text = text_cls(text_cfg).eval()
    randomize(text, gen)
    usd = {k: v.detach().clone() for k, v in unet.state_dict().items()}
    vsd = {k: v.detach().clone() for k, v in vae.state_dict().items()}
    tsd = {k: v.detach().clone() for k, v in text_keys(text.state_dict()).items()}
    ldm = {**ldm_unet(usd), **ldm_vae_keys(vsd, len(VAE["block_out_channels"]))}
    ldm.update({"cond_stage_model.transformer." + k: v for k, v in tsd.items()})
    back = convert_ldm_unet_checkpoint(ldm, dict(unet.config))
    assert set(back) == set(usd), set(back) ^ set(usd)
    assert all(torch.equal(back[k], usd[k]) for k in usd)
    back = convert_ldm_vae_checkpoint(ldm, dict(vae.config))
    assert set(back) == set(vsd) and all(torch.equal(back[k].reshape(vsd[k].shape), vsd[k]) for k in vsd)
    return unet, vae, text, {k: v.half().contiguous() for k, v in ldm.items()}


def module_tree(weights):
    """A torch module with an nn.Linear at every 2-D weight key (for peft to wrap by name)."""
    root = torch.nn.Module()
    for key, w in weights.items():
        if not key.endswith(".weight") or w.dim() != 2:
            continue
        *path, leaf = key[: -len(".weight")].split(".")
        m = root
        for part in path:
            if not hasattr(m, part):
                m.add_module(part, torch.nn.Module())
            m = getattr(m, part)
        lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
        lin.weight.data.copy_(w)
        m.add_module(leaf, lin)
    return root


def adapter_t(mm_original, gen):
    """Magic Adapter T on the motion modules (original keys) through peft: the SWIFT folder and
    the merged weights."""
    from peft import LoraConfig, inject_adapter_in_model, get_peft_model_state_dict

    tree = module_tree(mm_original)
    cfg = LoraConfig(**LORA_T)
    tree = inject_adapter_in_model(cfg, tree)
    with torch.no_grad():
        for name, p in tree.named_parameters():
            if "lora_" in name:
                p.copy_(rnd(p.shape, gen, 0.2))
    sd = get_peft_model_state_dict(tree)  # `….lora_A.weight`, adapter name dropped
    # SWIFT saves the wrapped AnimateDiff UNet: keys under base_model.model.
    sd = {"base_model.model." + k: v.half().contiguous() for k, v in sd.items()}
    d = os.path.join(CKPTS, "Magic_Weights", "magic_adapter_t")
    write_json(os.path.join(d, "configuration.json"), {"framework": "pytorch", "task": "text-to-video-synthesis"})
    write_json(os.path.join(d, "default", "adapter_config.json"),
               {"peft_type": "LORA", "lora_dropout": 0.0, "bias": "none", **LORA_T})
    torch.save(sd, os.path.join(d, "default", "adapter_model.bin"))
    for m in tree.modules():
        if hasattr(m, "merge") and hasattr(m, "lora_A"):
            m.merge()
    merged = dict(mm_original)
    for name, m in tree.named_modules():
        if hasattr(m, "lora_A"):
            merged[name + ".weight"] = m.base_layer.weight.detach().clone()
    changed = sum(not torch.equal(merged[k], mm_original[k]) for k in merged)
    assert changed == len(sd) // 2, (changed, len(sd))
    return merged


def text_adapter(text, gen):
    """The Magic Text-Encoder through peft: the SWIFT folder and the merged text encoder."""
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    pm = get_peft_model(text, LoraConfig(**LORA_TE))
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_" in name:
                p.copy_(rnd(p.shape, gen, 0.3))
    sd = get_peft_model_state_dict(pm)  # base_model.model.<CLIPTextModel key>.lora_A.weight
    sd = {"base_model.model." + next(iter(text_keys({k[len("base_model.model."):]: 0}))): v.half().contiguous()
          for k, v in sd.items()}
    d = os.path.join(CKPTS, "Magic_Weights", "magic_text_encoder")
    write_json(os.path.join(d, "configuration.json"), {"framework": "pytorch", "task": "text-to-video-synthesis"})
    write_json(os.path.join(d, "default", "adapter_config.json"),
               {"peft_type": "LORA", "lora_dropout": 0.0, "bias": "none", **LORA_TE})
    torch.save(sd, os.path.join(d, "default", "adapter_model.bin"))
    return pm.merge_and_unload()


def sample_config(name, db_file, prompt):
    paths = [
        ("pretrained_model_path", "./ckpts/Base_Model/stable-diffusion-v1-5"),
        ("motion_module", "./ckpts/Base_Model/motion_module/motion_module.ckpt"),
        ("dreambooth_path", f"./ckpts/DreamBooth/{db_file}"),
        ("magic_adapter_s_path", "./ckpts/Magic_Weights/magic_adapter_s/magic_adapter_s.ckpt"),
        ("magic_adapter_t_path", "./ckpts/Magic_Weights/magic_adapter_t"),
        ("magic_text_encoder_path", "./ckpts/Magic_Weights/magic_text_encoder"),
    ]
    lines = [f'{"-" if i == 0 else " "} {k}: "{v}"' for i, (k, v) in enumerate(paths)]
    lines += ["", f"  H: {SIZE}", f"  W: {SIZE}", f"  L: {FRAMES}", f"  seed: [{CONFIGS[name][2]}]",
              f"  steps: {STEPS}", f"  guidance_scale: {CFG}", "", "  prompt:", f'    - "{prompt}"', "",
              "  n_prompt:", f'    - "{NEGATIVE}"', "",
              "- unet_additional_kwargs:", "    use_inflated_groupnorm: true", "    use_motion_module: true",
              "    motion_module_resolutions: [1, 2, 4, 8]", "    motion_module_mid_block: false",
              "    motion_module_type: Vanilla", "    motion_module_kwargs:",
              f"      num_attention_heads: {MOTION_HEADS}", "      num_transformer_block: 1",
              "      attention_block_types: [Temporal_Self, Temporal_Self]",
              "      temporal_position_encoding: true", "      temporal_position_encoding_max_len: 32",
              "      temporal_attention_dim_div: 1", "      zero_initialize: true",
              "  noise_scheduler_kwargs:", "    beta_start: 0.00085", "    beta_end: 0.012",
              "    beta_schedule: linear", "    steps_offset: 1", "    clip_sample: false", ""]
    os.makedirs(os.path.join(OUT, "sample_configs"), exist_ok=True)
    with open(os.path.join(OUT, "sample_configs", f"{name}.yaml"), "w") as fh:
        fh.write("\n".join(lines))


def main():
    from diffusers import AutoencoderKL, DDIMScheduler, MotionAdapter, UNet2DConditionModel, UNetMotionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2026)
    tok = clip_tokenizer()
    text_cfg = CLIPTextConfig(**TEXT)

    # 1. the base model (diffusers layout)
    base_unet, base_vae, base_text, _ = dreambooth(gen, UNet2DConditionModel, AutoencoderKL, CLIPTextModel, text_cfg)
    for sub, model in [("unet", base_unet), ("vae", base_vae)]:
        os.makedirs(os.path.join(BASE, sub), exist_ok=True)
        model.save_config(os.path.join(BASE, sub))
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  os.path.join(BASE, sub, "diffusion_pytorch_model.safetensors"))
    os.makedirs(os.path.join(BASE, "text_encoder"), exist_ok=True)
    text_cfg.save_pretrained(os.path.join(BASE, "text_encoder"))
    save_file({k: v.half().contiguous() for k, v in text_keys(base_text.state_dict()).items()},
              os.path.join(BASE, "text_encoder", "model.safetensors"))
    write_json(os.path.join(BASE, "scheduler", "scheduler_config.json"),
               {"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
                "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "steps_offset": 1})
    write_json(os.path.join(BASE, "model_index.json"),
               {"_class_name": "StableDiffusionPipeline", "text_encoder": ["transformers", "CLIPTextModel"],
                "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
                "scheduler": ["diffusers", "PNDMScheduler"]})

    # 2. the motion module (original AnimateDiff keys, pickled)
    adapter = MotionAdapter(block_out_channels=tuple(UNET2D["block_out_channels"]), motion_layers_per_block=1,
                            motion_num_attention_heads=MOTION_HEADS, motion_norm_num_groups=8,
                            motion_max_seq_length=32, use_motion_mid_block=False).eval()
    randomize(adapter, gen)
    mm = {}
    for k, v in adapter.state_dict().items():
        # MotionAdapter keys: down_blocks.N.motion_modules.M.… (the UNetMotionModel's own)
        mm[to_original_motion_key(k)] = v.detach().clone()
    os.makedirs(os.path.join(CKPTS, "Base_Model", "motion_module"), exist_ok=True)
    torch.save({k: v.half() for k, v in mm.items()},
               os.path.join(CKPTS, "Base_Model", "motion_module", "motion_module.ckpt"))

    # 3. Magic Adapter S (LoRA-processor keys on the spatial attention projections)
    rank = 4
    lora_s = {}
    for k, v in base_unet.state_dict().items():
        if ".attentions." in k and (".attn1." in k or ".attn2." in k) and k.endswith("weight") and ".to_" in k:
            proj = "to_out" if k.endswith("to_out.0.weight") else k.split(".")[-2]
            attn = "attn1" if ".attn1." in k else "attn2"
            prefix = k[: k.index(f".{attn}.")] + f".{attn}.processor.{proj}_lora"
            out_f, in_f = v.shape
            lora_s[prefix + ".down.weight"] = rnd((rank, in_f), gen, 0.1)
            lora_s[prefix + ".up.weight"] = rnd((out_f, rank), gen, 0.1)
    os.makedirs(os.path.join(CKPTS, "Magic_Weights", "magic_adapter_s"), exist_ok=True)
    torch.save({k: v.half() for k, v in lora_s.items()},
               os.path.join(CKPTS, "Magic_Weights", "magic_adapter_s", "magic_adapter_s.ckpt"))

    # 4. Magic Adapter T and the Magic Text-Encoder (peft merges are the reference)
    mm_merged = adapter_t(mm, gen)
    save_file({k: v.contiguous() for k, v in mm_merged.items()}, os.path.join(OUT, "adapter_t_merged.safetensors"))
    from_original = {to_original_motion_key(k): k for k in adapter.state_dict()}

    # 5. one DreamBooth per sample config, and the reference sampling run
    reference = {}
    for ci, (name, (db_file, prompt, seed)) in enumerate(CONFIGS.items()):
        db_unet, db_vae, db_text, ldm = dreambooth(gen, UNet2DConditionModel, AutoencoderKL, CLIPTextModel, text_cfg)
        os.makedirs(os.path.join(CKPTS, "DreamBooth"), exist_ok=True)
        save_file(ldm, os.path.join(CKPTS, "DreamBooth", db_file))
        sample_config(name, db_file, prompt)
        # MagicTime's loading order: motion module, DreamBooth (VAE, UNet, text encoder), S, T, TE
        unet = UNetMotionModel.from_unet2d(db_unet, adapter).eval()
        with torch.no_grad():
            sd = dict(unet.state_dict())
            for key in lora_s:  # the upstream load_diffusers_lora rule, alpha 1
                if ".up." in key:
                    continue
                up = key.replace(".down.", ".up.")
                target = key.replace("processor.", "").replace("_lora", "").replace("down.", "")
                target = target.replace("to_out.", "to_out.0.")
                sd[target] = sd[target] + torch.mm(lora_s[up] * 2, lora_s[key] * 2)
            for ok, v in mm_merged.items():
                sd[from_original[ok]] = v
            unet.load_state_dict(sd)
        for mname, mod in unet.named_modules():
            if re.search(r"motion_modules\.\d+$", mname):
                mod.norm = PerFrameGroupNorm(mod.norm)
        text = text_adapter(db_text, torch.Generator().manual_seed(77))  # one adapter for all configs
        sched = DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                              beta_schedule="linear", steps_offset=1, clip_sample=False, set_alpha_to_one=True)
        ids_c = tok(prompt, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        ids_u = tok(NEGATIVE, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        h = SIZE // 2
        g = torch.Generator().manual_seed(seed)
        latents = torch.randn(1, 4, FRAMES, h, h, generator=g)
        init = latents.clone()
        with torch.no_grad():
            emb = torch.cat([text(ids_u).last_hidden_state, text(ids_c).last_hidden_state])
            sched.set_timesteps(STEPS)
            for t in sched.timesteps:
                inp = sched.scale_model_input(torch.cat([latents] * 2), t)
                eps = unet(inp, t, encoder_hidden_states=emb.repeat_interleave(FRAMES, dim=0)).sample
                eps_u, eps_c = eps.chunk(2)
                latents = sched.step(eps_u + CFG * (eps_c - eps_u), t, latents).prev_sample
            z = (latents / db_vae.config.scaling_factor).permute(0, 2, 1, 3, 4).reshape(FRAMES, 4, h, h)
            video = torch.cat([db_vae.decode(z[i: i + 1]).sample for i in range(FRAMES)])
            video = video.reshape(1, FRAMES, 3, SIZE, SIZE).permute(0, 2, 1, 3, 4)
            video = (video / 2 + 0.5).clamp(0, 1)
        reference.update({
            f"{name}.ids_cond": ids_c.float(), f"{name}.ids_uncond": ids_u.float(),
            f"{name}.latents_init": init.contiguous(), f"{name}.latents_final": latents.contiguous(),
            f"{name}.video": video.contiguous(),
        })
        print(f"{name}: video mean {video.mean():.4f} std {video.std():.4f}", file=sys.stderr)
    save_file(reference, os.path.join(OUT, "reference.safetensors"))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT}: {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
