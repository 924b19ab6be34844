//! Backend aliases and the runtime check for a CUDA driver.
//!
//! - `Cpu` is Burn 0.21's pure-Rust `flex` backend (tests, CI, default).
//! - `Cuda` / `CudaF16` exist only with the `cuda` cargo feature; without it nothing CUDA-related
//!   is compiled.
//! - Burn panics deep inside cubecl when CUDA is chosen on a machine without a driver, so callers
//!   run [`check_cuda`] first and get a [`ModelError::BackendUnavailable`] instead.
//! - [`BackendKind::run`] is the one place a backend named at run time (`--device`) becomes a
//!   type: generation, training and evaluation are generic over Burn's backend traits and get
//!   theirs from it through [`OnBackend`].

use burn::tensor::backend::AutodiffBackend;

use crate::error::{ModelError, Result};

/// The CPU backend (burn-flex, f32).
pub type Cpu = burn::backend::Flex;
/// The CPU backend with autodiff (training, LoRA fine-tuning).
pub type CpuAutodiff = burn::backend::Autodiff<Cpu>;
/// The device of [`Cpu`].
pub type CpuDevice = burn::backend::flex::FlexDevice;

/// The CUDA backend (f32 floats).
#[cfg(feature = "cuda")]
pub type Cuda = burn::backend::Cuda<f32, i32>;
/// The CUDA backend with half-precision floats (inference).
#[cfg(feature = "cuda")]
pub type CudaF16 = burn::backend::Cuda<burn::tensor::f16, i32>;
/// The CUDA backend with autodiff.
#[cfg(feature = "cuda")]
pub type CudaAutodiff = burn::backend::Autodiff<Cuda>;

/// The CUDA device `index`, after [`BackendKind::check`] (so a missing driver is a typed error,
/// not a panic inside cubecl).
#[cfg(feature = "cuda")]
pub fn cuda_device(index: usize) -> Result<burn::backend::cuda::CudaDevice> {
    BackendKind::Cuda { index }.check()?;
    Ok(burn::backend::cuda::CudaDevice { index })
}

/// Which backend a command asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// burn-flex on the CPU.
    #[default]
    Cpu,
    /// burn-cuda on GPU `index`.
    Cuda { index: usize },
}

impl std::str::FromStr for BackendKind {
    type Err = ModelError;

    /// `cpu`, `cuda` (device 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda { index: 0 }),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(index)) => Ok(Self::Cuda { index }),
                _ => Err(ModelError::InvalidInput(format!(
                    "unknown backend {s:?}: expected cpu, cuda or cuda:N"
                ))),
            },
        }
    }
}

impl std::fmt::Display for BackendKind {
    /// As `--device` takes it: `cpu` or `cuda:N`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda { index } => write!(f, "cuda:{index}"),
        }
    }
}

/// Work that runs on the backend a [`BackendKind`] names ([`BackendKind::run`]): it gets the
/// autodiff backend and its device — training uses `B`, inference `B::InnerBackend` (the same
/// device type). CPU: `Autodiff<Flex>` (inner [`Cpu`]); CUDA: [`CudaAutodiff`] (inner [`Cuda`],
/// f32).
pub trait OnBackend {
    type Output;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output;
}

fn no_cuda_feature() -> ModelError {
    ModelError::BackendUnavailable(
        "this binary was built without the `cuda` feature (cargo build --features cuda)".into(),
    )
}

impl BackendKind {
    /// Runs `work` on this backend, after [`Self::check`]: a CUDA device this build or machine
    /// lacks is a typed error, not a panic.
    pub fn run<W: OnBackend>(self, work: W) -> Result<W::Output> {
        match self {
            Self::Cpu => Ok(work.run::<CpuAutodiff>(Default::default())),
            #[cfg(feature = "cuda")]
            Self::Cuda { index } => Ok(work.run::<CudaAutodiff>(cuda_device(index)?)),
            #[cfg(not(feature = "cuda"))]
            Self::Cuda { .. } => Err(no_cuda_feature()),
        }
    }

    /// Checks that this backend can run here: always for the CPU; for CUDA the binary must be
    /// built with the `cuda` feature and a driver with enough devices must be present.
    pub fn check(self) -> Result<()> {
        match self {
            Self::Cpu => Ok(()),
            Self::Cuda { index } => {
                if !cfg!(feature = "cuda") {
                    return Err(no_cuda_feature());
                }
                let n = check_cuda()?;
                if index >= n {
                    return Err(ModelError::BackendUnavailable(format!(
                        "CUDA device {index} requested but the driver reports {n} device(s)"
                    )));
                }
                Ok(())
            }
        }
    }
}

/// Loads the CUDA driver library (`libcuda.so.1`), initialises it and returns the number of
/// devices. Works whether or not the `cuda` feature is built, and never panics.
pub fn check_cuda() -> Result<usize> {
    check_cuda_in(&["libcuda.so.1", "libcuda.so", "nvcuda.dll"])
}

/// [`check_cuda`] with the driver library names (or paths) to try, in order; the first that
/// loads decides.
fn check_cuda_in(libs: &[&str]) -> Result<usize> {
    type CuInit = unsafe extern "C" fn(u32) -> i32;
    type CuDeviceGetCount = unsafe extern "C" fn(*mut i32) -> i32;

    let mut last_err = String::new();
    for name in libs {
        // SAFETY: loading the CUDA driver runs its initialisers, which is what any CUDA program
        // does; the symbols are called with the signatures of the CUDA driver API.
        let lib = match unsafe { libloading::Library::new(name) } {
            Ok(lib) => lib,
            Err(e) => {
                last_err = e.to_string();
                continue;
            }
        };
        // SAFETY: see above; the function pointer types match cuda.h.
        let count = unsafe {
            let cu_init: libloading::Symbol<CuInit> = lib.get(b"cuInit\0").map_err(|e| {
                ModelError::BackendUnavailable(format!("{name}: no cuInit symbol: {e}"))
            })?;
            let cu_count: libloading::Symbol<CuDeviceGetCount> =
                lib.get(b"cuDeviceGetCount\0").map_err(|e| {
                    ModelError::BackendUnavailable(format!(
                        "{name}: no cuDeviceGetCount symbol: {e}"
                    ))
                })?;
            let rc = cu_init(0);
            if rc != 0 {
                return Err(ModelError::BackendUnavailable(format!(
                    "{name}: cuInit failed with CUDA error {rc} (no GPU or driver mismatch)"
                )));
            }
            let mut n: i32 = 0;
            let rc = cu_count(&mut n);
            if rc != 0 {
                return Err(ModelError::BackendUnavailable(format!(
                    "{name}: cuDeviceGetCount failed with CUDA error {rc}"
                )));
            }
            n
        };
        if count <= 0 {
            return Err(ModelError::BackendUnavailable(format!(
                "{name} loaded but reports no CUDA device"
            )));
        }
        return Ok(count as usize);
    }
    Err(ModelError::BackendUnavailable(format!(
        "no CUDA driver found (libcuda.so.1 could not be loaded: {last_err})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_backend_names() {
        assert_eq!("cpu".parse::<BackendKind>().unwrap(), BackendKind::Cpu);
        assert_eq!(
            "cuda:1".parse::<BackendKind>().unwrap(),
            BackendKind::Cuda { index: 1 }
        );
        assert!("tpu".parse::<BackendKind>().is_err());
        assert!(BackendKind::Cpu.check().is_ok());
        for kind in [BackendKind::Cpu, BackendKind::Cuda { index: 2 }] {
            assert_eq!(kind.to_string().parse::<BackendKind>().unwrap(), kind);
        }
    }

    /// The name of the backend [`BackendKind::run`] hands its work, and its device.
    struct Name;

    impl OnBackend for Name {
        type Output = String;
        fn run<B: AutodiffBackend>(self, device: B::Device) -> String {
            format!("{} {device:?}", B::name(&device))
        }
    }

    /// The CPU runs work on burn-flex with autodiff; without the `cuda` feature CUDA is the
    /// typed error of [`BackendKind::check`], and the work does not run.
    #[test]
    fn run_hands_the_work_its_backend() {
        let cpu = BackendKind::Cpu.run(Name).unwrap();
        let flex = <CpuAutodiff as burn::tensor::backend::Backend>::name(&Default::default());
        assert!(cpu.starts_with(&flex), "{cpu}");
        #[cfg(not(feature = "cuda"))]
        match (BackendKind::Cuda { index: 0 }).run(Name) {
            Err(ModelError::BackendUnavailable(msg)) => {
                assert!(msg.contains("without the `cuda` feature"), "{msg}")
            }
            other => panic!("expected BackendUnavailable, got {other:?}"),
        }
    }

    /// Without the `cuda` feature a CUDA backend is refused whatever the machine has.
    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_backend_without_the_feature_is_a_typed_error() {
        let kind = BackendKind::Cuda { index: 0 };
        match kind.check() {
            Err(ModelError::BackendUnavailable(msg)) => {
                assert!(msg.contains("without the `cuda` feature"), "{msg}")
            }
            other => panic!("expected BackendUnavailable, got {other:?}"),
        }
    }

    /// A stand-in driver library: `cuInit` returns `init_rc`, `cuDeviceGetCount` reports `count`
    /// (either left out when `None`), built with the system C compiler (which Rust's linker
    /// needs on Linux anyway).
    #[cfg(target_os = "linux")]
    fn fake_driver(
        dir: &std::path::Path,
        name: &str,
        init_rc: Option<i32>,
        count: Option<i32>,
    ) -> String {
        let mut c = String::from("int not_the_driver(void) { return 0; }\n");
        if let Some(rc) = init_rc {
            c += &format!("int cuInit(unsigned int flags) {{ (void)flags; return {rc}; }}\n");
        }
        if let Some(n) = count {
            c += &format!("int cuDeviceGetCount(int *n) {{ *n = {n}; return 0; }}\n");
        }
        let (src, lib) = (
            dir.join(format!("{name}.c")),
            dir.join(format!("{name}.so")),
        );
        std::fs::write(&src, c).unwrap();
        let st = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&lib)
            .arg(&src)
            .status()
            .expect("cc (the C compiler) builds the stand-in CUDA driver");
        assert!(st.success(), "cc failed on {}", src.display());
        lib.to_str().unwrap().to_string()
    }

    /// Every outcome of the driver check, each with a stand-in driver (the real one decides
    /// nothing here, so the test means the same on every machine): the device count of a working
    /// driver, and a typed error naming the cause for each failure.
    #[cfg(target_os = "linux")]
    #[test]
    fn cuda_check_reports_the_driver_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir
            .path()
            .join("libcuda-absent.so")
            .to_str()
            .unwrap()
            .to_string();
        let two = fake_driver(dir.path(), "two_gpus", Some(0), Some(2));
        assert_eq!(check_cuda_in(&[&two]).unwrap(), 2);
        // names that do not load are skipped; the first that loads decides
        let none = fake_driver(dir.path(), "no_gpu", Some(0), Some(0));
        assert_eq!(check_cuda_in(&[&missing, &two, &none]).unwrap(), 2);
        let err = |libs: &[&str]| match check_cuda_in(libs) {
            Err(ModelError::BackendUnavailable(msg)) => msg,
            other => panic!("{libs:?}: expected BackendUnavailable, got {other:?}"),
        };
        let msg = err(&[&none, &two]);
        assert!(msg.contains("reports no CUDA device"), "{msg}");
        let msg = err(&[&fake_driver(dir.path(), "init_fails", Some(100), Some(1))]);
        assert!(msg.contains("cuInit failed with CUDA error 100"), "{msg}");
        let msg = err(&[&fake_driver(dir.path(), "not_cuda", None, None)]);
        assert!(msg.contains("no cuInit symbol"), "{msg}");
        let msg = err(&[&fake_driver(dir.path(), "no_count", Some(0), None)]);
        assert!(msg.contains("no cuDeviceGetCount symbol"), "{msg}");
        let msg = err(&[&missing]);
        assert!(
            msg.contains("no CUDA driver found") && msg.contains("libcuda-absent.so"),
            "{msg}"
        );
    }
}
