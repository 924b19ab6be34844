//! The optimisation loop every stage runs, with checkpoints that survive a kill.
//!
//! Determinism: the randomness of step `k` (batch, caption dropout, noise, timesteps, frame
//! indices) comes from ChaCha8 seeded with the stage seed on stream `k`, so the whole RNG state
//! of a run is `(seed, step)`; batches can be prepared ahead on another thread, and a resumed run
//! draws exactly the batches an uninterrupted one would.
//!
//! A checkpoint is one file `<dir>/<loop>.ckpt`, written atomically (temp file + rename): a
//! header (JSON: loop name, seed, next step, loss history, seconds so far), the trained module's
//! record and the Adam state (Burn's bincode recorder, full precision). `resume` loads it and
//! continues from the next step; without `resume` an existing checkpoint is ignored and replaced.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsAccumulator, GradientsParams, Optimizer};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{scalar, StageOptions, StageStats, StepInfo};
use crate::error::{ModelError, Result};

/// A batch that splits into parts for data-parallel workers.
pub trait Batch: Send + Sized {
    /// Rows (samples) in the batch.
    fn rows(&self) -> usize;
    /// At most `parts` consecutive parts covering every row in order.
    fn split(self, parts: usize) -> Vec<Self>;
}

/// Row ranges of `rows` split into at most `parts` near-equal consecutive parts.
pub fn split_rows(rows: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let parts = parts.clamp(1, rows.max(1));
    (0..parts)
        .map(|i| (i * rows / parts)..((i + 1) * rows / parts))
        .filter(|r| !r.is_empty())
        .collect()
}

/// The loss of a batch on a module, and a stage-specific extra number (shared by the workers).
pub type LossFn<'a, M, T, B> = dyn Fn(&M, T) -> Result<(Tensor<B, 1>, f64)> + Sync + 'a;

/// When and where a loop writes checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointOptions {
    /// Folder of the `<loop>.ckpt` files (`None`: no checkpoints).
    pub dir: Option<PathBuf>,
    /// Write one every this many steps (0: never by count).
    pub every_steps: usize,
    /// Write one when this many seconds passed since the last (0: never by time).
    pub every_seconds: f64,
    /// Continue from an existing checkpoint.
    pub resume: bool,
    /// Stop (after writing a checkpoint) once this many steps of the loop are done: a planned
    /// interruption, as a kill would be, for tests and for time-sliced runs.
    pub stop_after: Option<usize>,
}

impl Default for CheckpointOptions {
    fn default() -> Self {
        Self {
            dir: None,
            every_steps: 0,
            every_seconds: 0.0,
            resume: false,
            stop_after: None,
        }
    }
}

/// Initialises every lazily initialised parameter of `module` in place. Burn defers a fresh
/// parameter's random init to its first use, and every *clone* of an uninitialised module
/// initialises separately (other values): materialise before cloning or forking (the
/// data-parallel workers fork the module) so all copies hold the same weights.
pub fn materialize<B: burn::tensor::backend::Backend, M: burn::module::Module<B>>(module: &M) {
    struct Touch;
    impl<B: burn::tensor::backend::Backend> burn::module::ModuleVisitor<B> for Touch {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Touch);
}

/// The RNG of step `step` of a loop seeded `seed`.
pub fn step_rng(seed: u64, step: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(step as u64);
    rng
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Header {
    name: String,
    seed: u64,
    /// Steps done (the next step to run).
    step: usize,
    history: Vec<f64>,
    seconds: f64,
}

const MAGIC: &[u8; 8] = b"MTCKPT01";

/// The checkpoint file of loop `name` in `dir`.
pub fn checkpoint_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.ckpt"))
}

/// How far a loop's checkpoint got (its header only: the weights are not read).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointProgress {
    /// Steps done.
    pub step: usize,
    /// Loss of every step done.
    pub history: Vec<f64>,
    /// Training seconds so far.
    pub seconds: f64,
}

/// The progress stored in loop `name`'s checkpoint in `dir`, `None` when there is none.
pub fn read_progress(dir: &Path, name: &str) -> Result<Option<CheckpointProgress>> {
    use std::io::Read;
    let p = checkpoint_path(dir, name);
    let mut f = match std::fs::File::open(&p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        r => r.map_err(|e| ModelError::io(&p, e))?,
    };
    let bad = || ModelError::checkpoint(&p, "not a MagicTime-rs training checkpoint");
    let mut head = [0u8; 16];
    f.read_exact(&mut head).map_err(|_| bad())?;
    if &head[..8] != MAGIC.as_slice() {
        return Err(bad());
    }
    let len = u64::from_le_bytes(head[8..].try_into().map_err(|_| bad())?);
    // a header is JSON of a few numbers and the loss history: far below this
    if len > 256 << 20 {
        return Err(bad());
    }
    let mut h = vec![0u8; len as usize];
    f.read_exact(&mut h).map_err(|_| bad())?;
    let header: Header = serde_json::from_slice(&h).map_err(|e| ModelError::parse(&p, e))?;
    if header.name != name {
        return Err(ModelError::checkpoint(
            &p,
            format!("checkpoint of loop `{}`, expected `{name}`", header.name),
        ));
    }
    Ok(Some(CheckpointProgress {
        step: header.step,
        history: header.history,
        seconds: header.seconds,
    }))
}

fn pack(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for p in parts {
        out.extend((p.len() as u64).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

fn unpack(path: &Path, bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let bad = || ModelError::checkpoint(path, "not a MagicTime-rs training checkpoint");
    let mut rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(bad)?;
    let mut parts = vec![];
    while !rest.is_empty() {
        let (len, tail) = rest.split_at_checked(8).ok_or_else(bad)?;
        let len = u64::from_le_bytes(len.try_into().map_err(|_| bad())?) as usize;
        let (part, tail) = tail.split_at_checked(len).ok_or_else(bad)?;
        parts.push(part.to_vec());
        rest = tail;
    }
    Ok(parts)
}

fn recorder_error(path: &Path, e: impl std::fmt::Debug) -> ModelError {
    ModelError::checkpoint(path, format!("record: {e:?}"))
}

/// Runs `opts.steps` Adam steps on `module` (resuming from its checkpoint when asked). Step `k`
/// gets its batch from `prepare(k, &mut step_rng(seed, k))` — run on a second thread, one batch
/// ahead of the optimiser — and its loss (and a stage-specific extra number) from
/// `loss(&module, batch)`; with `opts.workers > 1` the batch is split and the parts' losses
/// run on their own threads over forks of the module (separate autodiff graphs), their
/// gradients summed. Returns the trained module and the loss history.
#[allow(clippy::too_many_arguments)]
pub fn optimize<B, M, T>(
    name: &str,
    mut module: M,
    opts: &StageOptions,
    ckpt: &CheckpointOptions,
    prepare: &(dyn Fn(usize, &mut ChaCha8Rng) -> Result<T> + Sync),
    loss: &LossFn<M, T, B>,
    progress: &mut dyn FnMut(StepInfo),
) -> Result<(M, StageStats)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    T: Batch,
{
    materialize(&module);
    let device = first_device(&module);
    let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
    let mut optim = AdamConfig::new().init::<B, M>();
    let mut stats = StageStats::default();
    let mut start_step = 0;
    let mut seconds_before = 0.0;
    let path = ckpt.dir.as_ref().map(|d| checkpoint_path(d, name));
    if let (true, Some(p)) = (ckpt.resume, &path) {
        if p.is_file() {
            let bytes = std::fs::read(p).map_err(|e| ModelError::io(p, e))?;
            let parts = unpack(p, &bytes)?;
            let [h, m, o] = parts.as_slice() else {
                return Err(ModelError::checkpoint(p, "expected 3 parts"));
            };
            let header: Header = serde_json::from_slice(h).map_err(|e| ModelError::parse(p, e))?;
            if header.name != name || header.seed != opts.seed {
                return Err(ModelError::checkpoint(
                    p,
                    format!(
                        "checkpoint of loop `{}` seed {}, this run is `{name}` seed {}",
                        header.name, header.seed, opts.seed
                    ),
                ));
            }
            let record = Recorder::<B>::load(&recorder, m.clone(), &device)
                .map_err(|e| recorder_error(p, e))?;
            module = module.load_record(record);
            let record = Recorder::<B>::load(&recorder, o.clone(), &device)
                .map_err(|e| recorder_error(p, e))?;
            optim = optim.load_record(record);
            for &l in &header.history {
                stats.record(l);
            }
            start_step = header.step;
            seconds_before = header.seconds;
            tracing::info!(
                loop_name = name,
                step = start_step,
                "resumed from {}",
                p.display()
            );
        }
    }
    let start = Instant::now();
    let mut last_save = Instant::now();
    let save = |module: &M,
                optim: &OptimizerAdaptor<Adam, M, B>,
                stats: &StageStats,
                step: usize,
                secs: f64|
     -> Result<()> {
        let Some(p) = &path else { return Ok(()) };
        let header = Header {
            name: name.to_string(),
            seed: opts.seed,
            step,
            history: stats.history.clone(),
            seconds: secs,
        };
        let h = serde_json::to_vec(&header).map_err(|e| ModelError::parse(p, e))?;
        let m = Recorder::<B>::record(&recorder, module.clone().into_record(), ())
            .map_err(|e| recorder_error(p, e))?;
        let o = Recorder::<B>::record(&recorder, optim.to_record(), ())
            .map_err(|e| recorder_error(p, e))?;
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| ModelError::io(d, e))?;
        }
        super::save::write_atomic(p, &pack(&[&h, &m, &o]))?;
        tracing::debug!(loop_name = name, step, "checkpoint {}", p.display());
        Ok(())
    };
    let end = match ckpt.stop_after {
        Some(s) => opts.steps.min(s.max(start_step)),
        None => opts.steps,
    };
    let module = std::thread::scope(|scope| -> Result<M> {
        let mut module = module;
        // batches are prepared one step ahead on a second thread
        let (tx, rx) = mpsc::sync_channel::<Result<T>>(1);
        let seed = opts.seed;
        scope.spawn(move || {
            for step in start_step..end {
                if tx.send(prepare(step, &mut step_rng(seed, step))).is_err() {
                    break;
                }
            }
        });
        for step in start_step..end {
            let batch = rx
                .recv()
                .map_err(|_| ModelError::InvalidInput("batch thread stopped".into()))??;
            let (value, extra, grads) = parallel_grads(&module, batch, opts.workers, loss)?;
            if !value.is_finite() {
                return Err(ModelError::InvalidInput(format!(
                    "{name}: loss {value} at step {step}"
                )));
            }
            module = optim.step(opts.lr_at(step), module, grads);
            stats.record(value);
            let elapsed = seconds_before + start.elapsed().as_secs_f64();
            progress(StepInfo {
                step: step + 1,
                total: opts.steps,
                loss: value,
                extra,
                seconds: elapsed,
            });
            let time_up = opts.max_seconds.is_some_and(|m| elapsed > m);
            let due = (ckpt.every_steps > 0 && (step + 1).is_multiple_of(ckpt.every_steps))
                || (ckpt.every_seconds > 0.0
                    && last_save.elapsed().as_secs_f64() >= ckpt.every_seconds);
            if due || time_up || step + 1 == end {
                save(&module, &optim, &stats, step + 1, elapsed)?;
                last_save = Instant::now();
            }
            if time_up {
                break;
            }
        }
        drop(rx);
        Ok(module)
    })?;
    stats.seconds = seconds_before + start.elapsed().as_secs_f64();
    Ok((module, stats))
}

/// One step's loss, extra number and gradients, the batch split over `workers` threads: part
/// `i` of `n_i` rows runs on a fork of `module` (its own autodiff graph, same parameter ids)
/// with its loss weighted `n_i / n`, so the summed gradients are those of the whole batch's mean.
fn parallel_grads<B, M, T>(
    module: &M,
    batch: T,
    workers: usize,
    loss: &LossFn<M, T, B>,
) -> Result<(f64, f64, GradientsParams)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    T: Batch,
{
    let rows = batch.rows().max(1) as f64;
    let parts = batch.split(workers);
    let run = |m: &M, part: T| -> Result<(f64, f64, GradientsParams)> {
        let w = part.rows() as f64 / rows;
        let (l, extra) = loss(m, part)?;
        let l = l * w;
        let value = scalar(l.clone());
        Ok((
            value,
            extra * w,
            GradientsParams::from_grads(l.backward(), m),
        ))
    };
    if parts.len() == 1 {
        let part = parts.into_iter().next().expect("one part");
        return run(module, part);
    }
    let device = first_device(module);
    let results: Vec<Result<(f64, f64, GradientsParams)>> = std::thread::scope(|s| {
        let mut parts = parts.into_iter();
        let first = parts.next().expect("parts");
        let handles: Vec<_> = parts
            .map(|part| {
                let forked = module.clone().fork(&device);
                s.spawn(move || run(&forked, part))
            })
            .collect();
        let mut out = vec![run(module, first)];
        out.extend(handles.into_iter().map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(ModelError::InvalidInput("worker panicked".into())))
        }));
        out
    });
    let mut acc = GradientsAccumulator::<M>::new();
    let (mut value, mut extra) = (0.0, 0.0);
    for r in results {
        let (v, e, g) = r?;
        value += v;
        extra += e;
        acc.accumulate(module, g);
    }
    Ok((value, extra, acc.grads()))
}

/// The device of a module's first parameter.
fn first_device<B: burn::tensor::backend::Backend, M: burn::module::Module<B>>(
    module: &M,
) -> B::Device {
    module.devices().into_iter().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuAutodiff;
    use crate::clip::ClipTextConfig;
    use crate::train::diffusion::{
        batch_loss, training_scheduler, DiffusionBatch, DiffusionData, FramePick, LatentSet,
        TextToVideo,
    };
    use crate::unet::UNet3DConfig;
    use burn::tensor::backend::Backend;

    type A = CpuAutodiff;

    fn latents() -> LatentSet {
        let (n, f) = (6, 4);
        let dims = [n, 4, f, 8, 8];
        LatentSet {
            dims,
            values: crate::pipeline::seeded_normal(9, dims.iter().product()),
            ids: (0..n)
                .map(|i| (0..77).map(|j| ((i * 77 + j) % 998) as i64).collect())
                .collect(),
            dropped: vec![vec![0; 77], vec![1; 77]],
            metamorphic: vec![true; n],
        }
    }

    fn model(seed: u64) -> TextToVideo<A> {
        let dev = Default::default();
        A::seed(&dev, seed);
        TextToVideo {
            text_encoder: ClipTextConfig::tiny().init(&dev),
            unet: UNet3DConfig::tiny().init(&dev),
        }
    }

    /// What the loss closure saw: the batch's clips, its loss, Σ|conv_in weights| of the module.
    type Seen = (Vec<usize>, f64, f64);

    /// Runs the loop from `init` (a clone of one initialised model: the backend's global RNG is
    /// shared with concurrently running tests); returns the (clips, loss) of every step it ran and the final weights.
    fn run(
        init: TextToVideo<A>,
        ckpt: &CheckpointOptions,
        steps: usize,
        workers: usize,
    ) -> (Vec<Seen>, Vec<f32>) {
        let l = latents();
        let sched = training_scheduler().unwrap();
        let dd = DiffusionData {
            latents: &l,
            pool: (0..6).collect(),
            frames: FramePick::Uniform(2),
            batch: 2,
            caption_dropout: 0.3,
            scheduler: &sched,
            v_loss_cap: None,
        };
        let opts = StageOptions {
            steps,
            batch: 2,
            lr: 1e-3,
            warmup: 1,
            seed: 17,
            max_seconds: None,
            workers,
        };
        let seen = std::sync::Mutex::new(vec![]);
        let (m, _) = optimize(
            "unet",
            init,
            &opts,
            ckpt,
            &|_, rng| dd.prepare(rng),
            &|m: &TextToVideo<A>, b: DiffusionBatch| {
                let clips = b.clips.clone();
                let weights = scalar(m.unet.conv_in.weight.val().abs().sum());
                let (loss, extra) = batch_loss(&m.text_encoder, &m.unet, &sched, b)?;
                seen.lock()
                    .unwrap()
                    .push((clips, scalar(loss.clone()), weights));
                Ok((loss, extra))
            },
            &mut |_| {},
        )
        .unwrap();
        let w = m.unet.conv_out.weight.val().into_data().to_vec().unwrap();
        (seen.into_inner().unwrap(), w)
    }

    /// A run of 4 steps stopped after 2 (its checkpoint on disk, as a kill leaves it) and
    /// resumed draws the same batches, gives the same losses and ends at the same weights as
    /// an uninterrupted run.
    #[test]
    fn resumed_run_continues_the_loss_curve() {
        let m0 = model(1);
        materialize(&m0);
        let (full, w_full) = run(m0.clone(), &CheckpointOptions::default(), 4, 1);
        assert_eq!(full.len(), 4);
        let dir = tempfile::tempdir().unwrap();
        let mut ckpt = CheckpointOptions {
            dir: Some(dir.path().to_path_buf()),
            every_steps: 1,
            stop_after: Some(2),
            ..Default::default()
        };
        let (first, _) = run(m0, &ckpt, 4, 1);
        assert_eq!(first.len(), 2);
        assert!(checkpoint_path(dir.path(), "unet").is_file());
        let at = read_progress(dir.path(), "unet").unwrap().unwrap();
        assert_eq!(at.step, 2);
        let seen: Vec<f64> = first.iter().map(|s| s.1).collect();
        assert_eq!(at.history.len(), 2);
        for (a, b) in at.history.iter().zip(&seen) {
            assert!((a - b).abs() < 1e-5, "history {a} vs step loss {b}");
        }
        assert_eq!(read_progress(dir.path(), "vae").unwrap(), None);
        std::fs::write(checkpoint_path(dir.path(), "bad"), b"MTCKPT01\xff").unwrap();
        assert!(read_progress(dir.path(), "bad").is_err());
        ckpt.stop_after = None;
        ckpt.resume = true;
        // a different initialisation: everything must come from the checkpoint
        let (rest, w_resumed) = run(model(2), &ckpt, 4, 1);
        assert_eq!(rest.len(), 2);
        for (i, (a, b)) in full.iter().zip(first.iter().chain(&rest)).enumerate() {
            assert_eq!(a.0, b.0, "batch {i}");
            assert!((a.1 - b.1).abs() < 1e-5, "loss {i}: {} vs {}", a.1, b.1);
        }
        let d = w_full
            .iter()
            .zip(&w_resumed)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(d < 1e-6, "weights differ by {d}");
        // resuming a finished loop runs nothing
        let (none, _) = run(model(2), &ckpt, 4, 1);
        assert!(none.is_empty());
    }

    /// Splitting each batch over two worker threads gives the steps of the unsplit batch.
    #[test]
    fn two_workers_give_the_steps_of_one() {
        let m0 = model(1);
        materialize(&m0);
        let (one, w1) = run(m0.clone(), &CheckpointOptions::default(), 3, 1);
        let (two, w2) = run(m0, &CheckpointOptions::default(), 3, 2);
        // each step ran as two halves of one clip each
        assert_eq!(two.len(), 6);
        for (i, a) in one.iter().enumerate() {
            let halves = &two[2 * i..2 * i + 2];
            let mut clips: Vec<usize> = halves.iter().flat_map(|h| h.0.clone()).collect();
            let mut expected = a.0.clone();
            clips.sort_unstable();
            expected.sort_unstable();
            assert_eq!(clips, expected, "step {i}");
            let mean = (halves[0].1 + halves[1].1) / 2.0;
            assert!((a.1 - mean).abs() < 1e-4, "step {i}: {} vs {mean}", a.1);
        }
        let d = w1
            .iter()
            .zip(&w2)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(d < 1e-4, "weights differ by {d}");
    }

    /// From a fresh (lazily initialised) module, both workers of the first step see the same
    /// weights (each clone of an uninitialised Burn module would draw its own).
    #[test]
    fn workers_of_a_fresh_module_share_its_weights() {
        let (two, _) = run(model(3), &CheckpointOptions::default(), 1, 2);
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].2, two[1].2, "the workers' conv_in weights differ");
    }
}
