//! [`Generator`] implemented with the model crate's MagicTime pipeline on a Burn backend (the
//! CPU, or a CUDA GPU in a `cuda` build: `--device`). The pipeline is loaded once, on first use,
//! and shared by the job worker.
use std::{
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock},
};

use burn::tensor::backend::Backend;
use magictime_app::{
    ssr::generator::Generator,
    types::{GenerateDefaults, GenerateParams},
};
use magictime_model::{
    backend::BackendKind,
    pipeline::{GenerateLimits, GenerateOptions, GenerationDefaults, MagicTimePipeline, Progress},
};

/// The generator for `--device` (`cpu`, `cuda`, `cuda:N`); an error names what is wrong
/// (an unknown device, a build without CUDA, no CUDA driver).
pub fn for_device(
    device: &str,
    model_dir: Option<PathBuf>,
) -> anyhow::Result<std::sync::Arc<dyn Generator>> {
    let kind: BackendKind = device
        .parse()
        .map_err(|e| anyhow::anyhow!("--device: {e}"))?;
    match kind {
        BackendKind::Cpu => Ok(std::sync::Arc::new(ModelGenerator::<
            magictime_model::backend::Cpu,
        >::new(
            model_dir, Default::default()
        ))),
        #[cfg(feature = "cuda")]
        BackendKind::Cuda { index } => {
            let dev = magictime_model::backend::cuda_device(index)
                .map_err(|e| anyhow::anyhow!("--device {device}: {e}"))?;
            Ok(std::sync::Arc::new(ModelGenerator::<
                magictime_model::backend::Cuda,
            >::new(model_dir, dev)))
        }
        #[cfg(not(feature = "cuda"))]
        BackendKind::Cuda { .. } => anyhow::bail!(
            "--device {device}: this magictime was built without CUDA (build it with \
             `make build-cuda`, i.e. `--features cuda`)"
        ),
    }
}

pub struct ModelGenerator<B: Backend> {
    /// A diffusers-style model folder; `None` uses the model built into the binary.
    model_dir: Option<PathBuf>,
    device: B::Device,
    pipeline: OnceLock<Result<Mutex<MagicTimePipeline<B>>, String>>,
    /// The pipeline's limits, kept apart: requests are checked while a generation holds the
    /// pipeline (they waited for it to finish before).
    limits: OnceLock<Result<GenerateLimits, String>>,
}

impl<B: Backend> ModelGenerator<B> {
    pub fn new(model_dir: Option<PathBuf>, device: B::Device) -> Self {
        Self {
            model_dir,
            device,
            pipeline: OnceLock::new(),
            limits: OnceLock::new(),
        }
    }

    fn with_pipeline<T>(
        &self,
        f: impl FnOnce(&MagicTimePipeline<B>) -> Result<T, String>,
    ) -> Result<T, String> {
        let loaded = self.pipeline.get_or_init(|| {
            let device = &self.device;
            let p = match &self.model_dir {
                Some(dir) => MagicTimePipeline::from_dir(dir, None, device)
                    .map_err(|e| format!("loading model {}: {e}", dir.display())),
                None => builtin_pipeline(device),
            };
            p.map(Mutex::new)
        });
        let p = loaded.as_ref().map_err(Clone::clone)?;
        let guard = p.lock().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }
}

/// The model built into the binary: the project's default model trained on ChronoMagic-Synth
/// when this build embeds it, else a tiny random model (noise, but the whole pipeline runs).
fn builtin_pipeline<B: Backend>(device: &B::Device) -> Result<MagicTimePipeline<B>, String> {
    if magictime_model::default_model::is_available() {
        magictime_model::default_model::load_default(device).map_err(|e| e.to_string())
    } else {
        magictime_model::cli::tiny_random_pipeline(0, device).map_err(|e| e.to_string())
    }
}

fn options(p: &GenerateParams) -> GenerateOptions {
    GenerateOptions {
        prompt: p.prompt.clone(),
        negative: p.negative.clone(),
        seed: p.seed,
        steps: p.steps,
        guidance_scale: p.cfg,
        frames: p.frames,
        height: p.size,
        width: p.size,
    }
}

impl<B: Backend> Generator for ModelGenerator<B>
where
    B::Device: Send + Sync,
{
    fn defaults(&self) -> GenerateDefaults {
        // the model's generation_config.json, read without loading the weights
        let d = match &self.model_dir {
            Some(dir) => GenerationDefaults::read(dir).unwrap_or_else(|e| {
                tracing::warn!("{e}; using MagicTime's generation settings");
                GenerationDefaults::magictime()
            }),
            None if magictime_model::default_model::is_available() => {
                magictime_model::default_model::defaults()
            }
            // the tiny random model: small and quick, its output is noise anyway
            None => magictime_model::default_model::Preset::S32.generation_defaults(),
        };
        GenerateDefaults {
            steps: d.num_inference_steps,
            cfg: d.guidance_scale,
            frames: d.num_frames,
            size: d.height,
        }
    }

    fn describe(&self) -> String {
        match &self.model_dir {
            // The folder's name only: where the server keeps its files is nobody's business.
            Some(d) => format!(
                "MagicTime pipeline from the folder {}",
                d.file_name().unwrap_or(d.as_os_str()).to_string_lossy()
            ),
            None if magictime_model::default_model::is_available() => {
                let d = magictime_model::default_model::defaults();
                format!(
                    "built-in default model (tiny MagicTime trained on ChronoMagic-Synth; {}×{}, {} frames)",
                    d.width, d.height, d.num_frames
                )
            }
            None => "built-in tiny model (random weights: the output is noise)".to_owned(),
        }
    }

    fn check(&self, p: &GenerateParams) -> Result<(), String> {
        let limits = self
            .limits
            .get_or_init(|| self.with_pipeline(|pl| Ok(pl.limits())))
            .clone()?;
        limits.check(&options(p)).map_err(|e| e.to_string())
    }

    fn generate(
        &self,
        p: &GenerateParams,
        out: &Path,
        progress: &mut dyn FnMut(f64, String),
    ) -> Result<(), String> {
        let opts = options(p);
        let total = (opts.steps + opts.frames) as f64;
        let video = self.with_pipeline(|pl| {
            pl.generate(&opts, &mut |pr| match pr {
                Progress::Denoise { step, total: n } => {
                    progress(step as f64 / total, format!("denoising step {step}/{n}"))
                }
                Progress::Decode { frame, total: n } => progress(
                    (opts.steps + frame) as f64 / total,
                    format!("decoding frame {frame}/{n}"),
                ),
            })
            .map_err(|e| e.to_string())
        })?;
        let frames: Vec<image::RgbImage> = (0..video.frames)
            .map(|i| {
                image::RgbImage::from_raw(
                    video.width as u32,
                    video.height as u32,
                    video.frame(i).to_vec(),
                )
                .expect("frame buffer size")
            })
            .collect();
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        magictime_data::video::write_mp4(out, &frames, p.fps).map_err(|e| e.to_string())
    }
}
