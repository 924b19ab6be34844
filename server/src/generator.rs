//! [`Generator`] implemented with the model crate's MagicTime pipeline on a Burn backend (the
//! CPU, or a CUDA GPU in a `cuda` build: `--device`). Two models at most: the built-in one (or
//! the `--model` folder) and, with `--ckpts`, the official MagicTime release with a DreamBooth
//! file and adapters of the user's choice. A pipeline is loaded on first use and kept, one per
//! model: the DreamBooth file and the adapters are merged into its weights, so another choice
//! for the same model loads it again (in place of the last one).
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
};

use burn::tensor::backend::{AutodiffBackend, Backend};
use magictime_app::{
    ssr::generator::Generator,
    types::{
        GenerateDefaults, GenerateParams, ModelFile, ModelOption, ADAPTERS, BUILTIN_MODEL,
        OFFICIAL_MODEL,
    },
};
use magictime_model::{
    backend::{BackendKind, OnBackend},
    loader::magictime::{ModelPaths, MotionOverrides},
    pipeline::{
        Adapter, GenerateLimits, GenerateOptions, GenerationDefaults, MagicTimePipeline, Progress,
    },
};

mod files;

/// The generator on the backend `kind` (`--device`: the CPU, or a CUDA GPU in a `cuda` build)
/// with the `--model` folder (the default model) and the official release's `--ckpts` tree; an
/// error names what is wrong (a build without CUDA, no CUDA driver, a `--ckpts` that is not the
/// release's tree).
pub fn for_device(
    kind: BackendKind,
    model_dir: Option<PathBuf>,
    ckpts: Option<PathBuf>,
) -> anyhow::Result<Arc<dyn Generator>> {
    kind.run(Load { model_dir, ckpts })
        .map_err(|e| anyhow::anyhow!("--device {kind}: {e}"))?
}

/// [`for_device`]'s work: the generator runs on the inference side of the backend.
struct Load {
    model_dir: Option<PathBuf>,
    ckpts: Option<PathBuf>,
}

impl OnBackend for Load {
    type Output = anyhow::Result<Arc<dyn Generator>>;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        Ok(Arc::new(ModelGenerator::<B::InnerBackend>::new(
            self.model_dir,
            self.ckpts,
            device,
        )?))
    }
}

/// One model with its DreamBooth file and adapters: what a loaded pipeline holds.
#[derive(Debug, Clone, PartialEq)]
struct Variant {
    model: &'static str,
    dreambooth: Option<String>,
    adapters: Vec<Adapter>,
}

pub struct ModelGenerator<B: Backend> {
    /// A diffusers-style model folder; `None` uses the model built into the binary.
    model_dir: Option<PathBuf>,
    /// The official release's `ckpts/` tree (`--ckpts`).
    ckpts: Option<PathBuf>,
    device: B::Device,
    /// The loaded pipelines, one per model, used under this lock: one generation at a time.
    loaded: Mutex<HashMap<&'static str, (Variant, MagicTimePipeline<B>)>>,
    /// Each model's limits (the same for every DreamBooth file and adapter), kept apart:
    /// requests are checked while a generation holds the pipelines.
    limits: Mutex<HashMap<&'static str, GenerateLimits>>,
    /// SHA-256 of weights files by path, with the size and modification time they were taken
    /// at: the official release's files are gigabytes, hashed once.
    hashes: Mutex<HashMap<PathBuf, (u64, std::time::SystemTime, String)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The adapter an id of [`ADAPTERS`] names: the same names as the CLI's `--adapters s,t,te`.
fn adapter_of(id: &str) -> Option<Adapter> {
    <Adapter as clap::ValueEnum>::from_str(id, false).ok()
}

/// The generation settings of a weights folder or `ckpts/` tree (its `generation_config.json`,
/// read without loading weights); MagicTime's when it has none.
fn settings_of(dir: &Path) -> GenerationDefaults {
    GenerationDefaults::read(dir).unwrap_or_else(|e| {
        tracing::warn!("{e}; using MagicTime's generation settings");
        GenerationDefaults::magictime()
    })
}

/// `names` joined for an error message, or "none".
fn listed(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The adapters found in a weights folder or `ckpts/` tree, as ids of [`ADAPTERS`].
fn adapters_in(dir: &Path) -> Result<Vec<String>, String> {
    let p = ModelPaths::find(dir, None).map_err(|e| e.to_string())?;
    let found = [
        p.adapter_s.is_some(),
        p.adapter_t.is_some(),
        p.text_encoder_adapter.is_some(),
    ];
    Ok(ADAPTERS
        .iter()
        .zip(found)
        .filter(|(_, f)| *f)
        .map(|((id, _), _)| (*id).to_owned())
        .collect())
}

/// The DreamBooth files of a `ckpts/` tree (`DreamBooth/*.safetensors|ckpt`), sorted.
fn dreambooth_files(ckpts: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(ckpts.join("DreamBooth"))
        .map(|r| {
            r.flatten()
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".safetensors") || n.ends_with(".ckpt"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn folder_name(d: &Path) -> String {
    d.file_name()
        .unwrap_or(d.as_os_str())
        .to_string_lossy()
        .into_owned()
}

impl<B: Backend> ModelGenerator<B> {
    /// `ckpts` must hold the release's base model and motion module (checked here, at start).
    pub fn new(
        model_dir: Option<PathBuf>,
        ckpts: Option<PathBuf>,
        device: B::Device,
    ) -> anyhow::Result<Self> {
        if let Some(c) = &ckpts {
            let p = ModelPaths::find(c, None).map_err(|e| anyhow::anyhow!("--ckpts: {e}"))?;
            if p.motion_module.is_none() {
                anyhow::bail!(
                    "--ckpts {}: no motion module (expected \
                     Base_Model/motion_module/motion_module.ckpt, as the release has it)",
                    c.display()
                );
            }
        }
        Ok(Self {
            model_dir,
            ckpts,
            device,
            loaded: Mutex::new(HashMap::new()),
            limits: Mutex::new(HashMap::new()),
            hashes: Mutex::new(HashMap::new()),
        })
    }

    /// The built-in model (or the `--model` folder) as the picker offers it.
    fn builtin(&self) -> ModelOption {
        let embedded = magictime_model::default_model::is_available();
        let (label, d, adapters) = match &self.model_dir {
            // The folder's name only: where the server keeps its files is nobody's business.
            Some(dir) => (
                format!("MagicTime pipeline from the folder {}", folder_name(dir)),
                settings_of(dir),
                adapters_in(dir).unwrap_or_default(),
            ),
            None if embedded => {
                let d = magictime_model::default_model::defaults();
                (
                    format!(
                        "built-in default model (tiny MagicTime trained on ChronoMagic-Synth; \
                         {}×{}, {} frames)",
                        d.width, d.height, d.num_frames
                    ),
                    d,
                    // the embedded model ships all three
                    ADAPTERS.iter().map(|(id, _)| (*id).to_owned()).collect(),
                )
            }
            // the tiny random model: small and quick, its output is noise anyway
            None => (
                "built-in tiny model (random weights: the output is noise)".to_owned(),
                magictime_model::default_model::Preset::S32.generation_defaults(),
                vec![],
            ),
        };
        option(BUILTIN_MODEL, label, vec![], adapters, d)
    }

    /// The official release of `--ckpts`, when given.
    fn official(&self) -> Option<ModelOption> {
        let c = self.ckpts.as_ref()?;
        let d = settings_of(c);
        Some(option(
            OFFICIAL_MODEL,
            format!(
                "official MagicTime release (the {} tree: SD1.5, motion module, Magic Adapters)",
                folder_name(c)
            ),
            dreambooth_files(c),
            adapters_in(c).unwrap_or_default(),
            d,
        ))
    }

    /// The variant `p` asks for, checked against [`Generator::models`]; the error names the
    /// field and what there is.
    fn variant(&self, p: &GenerateParams) -> Result<Variant, String> {
        let (model, option) = match p.model.as_str() {
            BUILTIN_MODEL => (BUILTIN_MODEL, self.builtin()),
            OFFICIAL_MODEL => match self.official() {
                Some(o) => (OFFICIAL_MODEL, o),
                None => return Err("Model \"official\" needs a server started with --ckpts".into()),
            },
            other => {
                let known: Vec<String> = self.models().into_iter().map(|m| m.id).collect();
                return Err(format!(
                    "Model {other:?} is unknown here (there are {})",
                    known.join(", ")
                ));
            }
        };
        let dreambooth = p.dreambooth.clone().filter(|d| !d.is_empty());
        if let Some(d) = &dreambooth {
            if !option.dreambooth.contains(d) {
                return Err(if model == OFFICIAL_MODEL {
                    format!(
                        "DreamBooth file {d:?} is not in the release's DreamBooth folder (there \
                         are {})",
                        listed(&option.dreambooth)
                    )
                } else {
                    "DreamBooth files go over the official base model only".to_owned()
                });
            }
        }
        let asked = p
            .adapters
            .clone()
            .unwrap_or_else(|| option.adapters.clone());
        let mut adapters = vec![];
        for (id, _) in ADAPTERS {
            if asked.iter().any(|a| a == id) {
                if !option.adapters.iter().any(|a| a == id) {
                    return Err(format!(
                        "Adapter {id:?} is not part of this model (it has {})",
                        listed(&option.adapters)
                    ));
                }
                adapters.extend(adapter_of(id));
            }
        }
        if let Some(bad) = asked.iter().find(|a| adapter_of(a).is_none()) {
            return Err(format!("Adapter {bad:?} is unknown (there are s, t, te)"));
        }
        Ok(Variant {
            model,
            dreambooth,
            adapters,
        })
    }

    fn load(&self, v: &Variant) -> Result<MagicTimePipeline<B>, String> {
        let device = &self.device;
        let adapters = Some(v.adapters.as_slice());
        let dir = match (v.model, &self.model_dir) {
            (OFFICIAL_MODEL, _) => self.ckpts.as_ref().expect("checked by variant()"),
            (_, Some(dir)) => dir,
            (_, None) if magictime_model::default_model::is_available() => {
                return magictime_model::default_model::load_default_with(adapters, device)
                    .map_err(|e| e.to_string());
            }
            (_, None) => {
                return magictime_model::default_model::tiny_random_pipeline(0, device)
                    .map_err(|e| e.to_string())
            }
        };
        tracing::info!(?v, "loading a model");
        let mut paths = ModelPaths::find(dir, adapters).map_err(|e| e.to_string())?;
        paths.dreambooth = v
            .dreambooth
            .as_ref()
            .map(|d| dir.join("DreamBooth").join(d));
        let defaults = GenerationDefaults::read(dir).map_err(|e| e.to_string())?;
        MagicTimePipeline::load(&paths, MotionOverrides::default(), defaults, device)
            .map_err(|e| format!("loading model {}: {e}", folder_name(dir)))
    }

    /// Runs `f` on the pipeline of `v`, loading it (in place of its model's last variant)
    /// when needed.
    fn with_pipeline<T>(
        &self,
        v: &Variant,
        f: impl FnOnce(&MagicTimePipeline<B>) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut loaded = lock(&self.loaded);
        if loaded.get(v.model).is_none_or(|(have, _)| have != v) {
            // the last variant goes first: two SD1.5-size pipelines need twice the memory
            loaded.remove(v.model);
            let p = self.load(v)?;
            lock(&self.limits).insert(v.model, p.limits());
            loaded.insert(v.model, (v.clone(), p));
        }
        f(&loaded[v.model].1)
    }
}

fn option(
    id: &str,
    label: String,
    dreambooth: Vec<String>,
    adapters: Vec<String>,
    d: GenerationDefaults,
) -> ModelOption {
    ModelOption {
        id: id.to_owned(),
        label,
        dreambooth,
        adapters,
        defaults: GenerateDefaults {
            steps: d.num_inference_steps,
            cfg: d.guidance_scale,
            frames: d.num_frames,
            size: d.height,
        },
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
    fn models(&self) -> Vec<ModelOption> {
        std::iter::once(self.builtin())
            .chain(self.official())
            .collect()
    }

    fn describe(&self, p: &GenerateParams) -> String {
        let Ok(v) = self.variant(p) else {
            return format!("model {:?} (not available here)", p.model);
        };
        let label = match v.model {
            OFFICIAL_MODEL => self.official().map(|o| o.label).unwrap_or_default(),
            _ => self.builtin().label,
        };
        let db = v
            .dreambooth
            .map(|d| format!(", DreamBooth {d}"))
            .unwrap_or_default();
        let names: Vec<&str> = ADAPTERS
            .iter()
            .filter(|(id, _)| v.adapters.contains(&adapter_of(id).expect("known")))
            .map(|(_, name)| *name)
            .collect();
        let adapters = if names.is_empty() {
            "no adapters".to_owned()
        } else {
            names.join(" + ")
        };
        format!("{label}{db}; {adapters}")
    }

    fn model_files(&self, p: &GenerateParams) -> Result<Vec<ModelFile>, String> {
        self.files_of(&self.variant(p)?)
    }

    fn check(&self, p: &GenerateParams) -> Result<(), String> {
        let v = self.variant(p)?;
        let known = lock(&self.limits).get(v.model).copied();
        let limits = match known {
            Some(l) => l,
            None => self.with_pipeline(&v, |pl| Ok(pl.limits()))?,
        };
        limits.check(&options(p)).map_err(|e| e.to_string())
    }

    fn generate(
        &self,
        p: &GenerateParams,
        outs: &[PathBuf],
        progress: &mut dyn FnMut(f64, String),
    ) -> Result<(), String> {
        let v = self.variant(p)?;
        let opts = options(p);
        let total = (opts.steps + opts.frames) as f64;
        let video = self.with_pipeline(&v, |pl| {
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
        for out in outs {
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            magictime_cli::export::export(out, &video, p.fps.round() as u32)
                .map_err(|e| format!("{e:#}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::files::sha256_hex;
    use super::*;
    use magictime_model::backend::Cpu;

    fn params(model: &str, dreambooth: Option<&str>, adapters: Option<&[&str]>) -> GenerateParams {
        GenerateParams {
            prompt: "p".into(),
            negative: String::new(),
            seed: 1,
            steps: 1,
            cfg: 1.0,
            frames: 4,
            size: 16,
            fps: 8.0,
            model: model.into(),
            dreambooth: dreambooth.map(Into::into),
            adapters: adapters.map(|a| a.iter().map(|s| s.to_string()).collect()),
            formats: vec![],
        }
    }

    fn copy_tree(src: &Path, dst: &Path, skip: &str) {
        std::fs::create_dir_all(dst).unwrap();
        for e in std::fs::read_dir(src).unwrap().flatten() {
            let (from, to) = (e.path(), dst.join(e.file_name()));
            if from.ends_with(skip) {
                continue;
            } else if from.is_dir() {
                copy_tree(&from, &to, skip);
            } else {
                std::fs::copy(&from, &to).unwrap();
            }
        }
    }

    /// The adapter toggles reach the weights: from the same seed the built-in model makes the
    /// same frames twice with its adapters, and other frames without Magic Adapter T and the
    /// Text-Encoder.
    #[test]
    fn adapter_toggles_change_the_built_in_models_frames() {
        let g = ModelGenerator::<Cpu>::new(None, None, Default::default()).unwrap();
        assert_eq!(g.models()[0].adapters, ["s", "t", "te"]);
        let tmp = tempfile::tempdir().unwrap();
        let grid = |adapters: Option<&[&str]>, name: &str| {
            let mut p = params(BUILTIN_MODEL, None, adapters);
            p.size = g.models()[0].defaults.size;
            p.steps = 2;
            let out = tmp.path().join(name);
            g.generate(&p, std::slice::from_ref(&out), &mut |_, _| {})
                .unwrap();
            std::fs::read(out).unwrap()
        };
        let all = grid(None, "all.png");
        assert_eq!(all, grid(Some(&["s", "t", "te"]), "again.png"));
        assert_ne!(all, grid(Some(&["s"]), "s.png"));
    }

    /// Choices are checked against what the `ckpts/` tree holds, without loading weights: a
    /// release without the Text-Encoder offers S and T only; the default is every adapter there.
    /// A `--ckpts` that is not the release's tree is refused at start.
    #[test]
    fn choices_are_checked_against_the_release_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/ckpts/ckpts");
        copy_tree(&fixture, tmp.path(), "magic_text_encoder");
        let g =
            ModelGenerator::<Cpu>::new(None, Some(tmp.path().into()), Default::default()).unwrap();
        let models = g.models();
        assert_eq!(models[1].adapters, ["s", "t"]);
        let v = g.variant(&params("official", None, None)).unwrap();
        assert_eq!(v.adapters, [Adapter::S, Adapter::T]);
        let v = g
            .variant(&params(
                "official",
                Some("ToonYou_beta6.safetensors"),
                Some(&["t"]),
            ))
            .unwrap();
        assert_eq!(
            (v.dreambooth.as_deref(), v.adapters),
            (Some("ToonYou_beta6.safetensors"), vec![Adapter::T])
        );
        let err = |p| g.variant(&p).unwrap_err();
        assert_eq!(
            err(params("official", None, Some(&["s", "te"]))),
            "Adapter \"te\" is not part of this model (it has s, t)"
        );
        assert_eq!(
            err(params("official", None, Some(&["x"]))),
            "Adapter \"x\" is unknown (there are s, t, te)"
        );
        assert!(err(params(
            "official",
            Some("../DreamBooth/ToonYou_beta6.safetensors"),
            None
        ))
        .starts_with("DreamBooth file"));
        assert!(err(params("sd3", None, None)).contains("there are builtin, official"));
        let d = g.describe(&params(
            "official",
            Some("ToonYou_beta6.safetensors"),
            Some(&["s"]),
        ));
        assert!(
            d.ends_with(", DreamBooth ToonYou_beta6.safetensors; Magic Adapter S"),
            "{d}"
        );
        // the files of that choice, named inside the tree, with their hashes
        let files = g
            .model_files(&params(
                "official",
                Some("ToonYou_beta6.safetensors"),
                Some(&["s"]),
            ))
            .unwrap();
        let roles: Vec<&str> = files.iter().map(|f| f.role.as_str()).collect();
        for want in ["UNet", "VAE", "text encoder", "motion module", "DreamBooth"] {
            assert!(roles.contains(&want), "{want}: {roles:?}");
        }
        assert!(roles.contains(&"Magic Adapter S") && !roles.contains(&"Magic Adapter T"));
        let db = files.iter().find(|f| f.role == "DreamBooth").unwrap();
        assert_eq!(db.name, "DreamBooth/ToonYou_beta6.safetensors");
        let bytes = std::fs::read(tmp.path().join(&db.name)).unwrap();
        assert_eq!(
            (db.sha256.as_str(), db.bytes),
            (sha256_hex(&bytes).as_str(), bytes.len() as u64)
        );
        // hashed once: a changed file (size or time) is hashed again
        std::fs::write(tmp.path().join(&db.name), b"changed").unwrap();
        let again = g
            .model_files(&params("official", Some("ToonYou_beta6.safetensors"), None))
            .unwrap();
        let db = again.iter().find(|f| f.role == "DreamBooth").unwrap();
        assert_eq!(db.sha256, sha256_hex(b"changed"));

        let e = ModelGenerator::<Cpu>::new(
            None,
            Some(tmp.path().join("DreamBooth")),
            Default::default(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.starts_with("--ckpts") && e.contains("Base_Model"), "{e}");
    }
}
