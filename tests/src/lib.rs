//! Shared helpers for the cross-crate integration tests in `tests/tests/`: locating the built
//! `magictime` binary and running a real server on a free port with a temporary data dir, on
//! SQLite (the file in the data dir) or, under `tools/with_postgres.sh`, on a PostgreSQL
//! database of its own ([`database_args`]).
use std::{
    collections::HashSet,
    hash::{Hash, Hasher},
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The release `magictime` binary (`make test` builds it first). `MAGICTIME_BIN` overrides.
pub fn magictime_bin() -> PathBuf {
    if let Ok(p) = std::env::var("MAGICTIME_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let bin = target.join("release").join("magictime");
    assert!(
        bin.exists(),
        "{} not found: build it with `cargo build --release -p magictime-server` (make test does)",
        bin.display()
    );
    bin
}

/// The PostgreSQL server the tests run on (`postgres://user@host:port`, databases made as
/// needed), set by `tools/with_postgres.sh`; without it they run on SQLite.
pub const POSTGRES_ENV: &str = "MAGICTIME_TEST_POSTGRES";

/// The database arguments of every `magictime` command on a test's data dir: none on SQLite
/// (its file in the data dir); under [`POSTGRES_ENV`], `--database-url` of a database of this
/// data dir's own, created on first use (so a server, its workers and its account setup share
/// it, and parallel tests never do).
pub fn database_args(data_dir: &Path) -> Vec<String> {
    static CREATED: std::sync::Mutex<Option<HashSet<String>>> = std::sync::Mutex::new(None);
    let Ok(server) = std::env::var(POSTGRES_ENV) else {
        return vec![];
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut h);
    let name = format!("t_{:016x}", h.finish());
    let mut created = CREATED.lock().unwrap();
    if created
        .get_or_insert_with(HashSet::new)
        .insert(name.clone())
    {
        let out = Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(format!("{server}/postgres"))
            .arg("-c")
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .expect("run psql (PostgreSQL's client)");
        assert!(
            out.status.success(),
            "CREATE DATABASE {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    vec!["--database-url".into(), format!("{server}/{name}")]
}

/// Runs `magictime admin create` against a data dir.
pub fn create_account(data_dir: &Path, email: &str, password: &str, role: &str) {
    let mut child = Command::new(magictime_bin())
        .args([
            "admin",
            "create",
            "--email",
            email,
            "--role",
            role,
            "--data-dir",
        ])
        .arg(data_dir)
        .args(database_args(data_dir))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn magictime admin create");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let st = child.wait().unwrap();
    assert!(st.success(), "admin create {email} failed");
}

/// A running server; killed on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub data_dir: tempfile::TempDir,
    /// Started with `--insecure-http` (plain-HTTP cookies, what a test client over
    /// `http://127.0.0.1` keeps); [`Server::start_behind_tls`] starts one without it.
    insecure_http: bool,
    /// The one-time `/setup` token the server logs when it has no admin yet.
    setup_token: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Server {
    /// Starts `magictime serve` with accounts created beforehand by `setup`. The server binds
    /// port 0 and the address it really got is read from its "ready at" line, so parallel tests
    /// cannot race for a port (a free-port probe followed by a bind can hand one port to two).
    pub fn start(setup: impl FnOnce(&Path)) -> Server {
        Self::start_with(&[], setup)
    }

    /// [`Server::start`] with extra `magictime serve` arguments (e.g. `--clip tiny-random`).
    pub fn start_with(args: &[&str], setup: impl FnOnce(&Path)) -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        setup(data_dir.path());
        Self::start_in(data_dir, args, true)
    }

    /// [`Server::start`] with the default cookies, meant for TLS (`Secure`, `__Host-` names).
    pub fn start_behind_tls(setup: impl FnOnce(&Path)) -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        setup(data_dir.path());
        Self::start_in(data_dir, &[], false)
    }

    /// Kills the server with SIGKILL (no graceful shutdown: what a crash or an OOM kill does)
    /// and starts a new one on the same data dir.
    pub fn kill_and_restart(mut self, args: &[&str]) -> Server {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let data_dir = std::mem::replace(&mut self.data_dir, tempfile::tempdir().unwrap());
        Self::start_in(data_dir, args, self.insecure_http)
    }

    fn start_in(data_dir: tempfile::TempDir, args: &[&str], insecure_http: bool) -> Server {
        let mut child = Command::new(magictime_bin())
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path())
            .args(database_args(data_dir.path()))
            .args(insecure_http.then_some("--insecure-http"))
            .args(args)
            // The tests say which CLIP they want; none from the environment.
            .env_remove("MAGICTIME_CLIP")
            // a killed server's jobs are taken again after this (see `worker`)
            .env("MAGICTIME_LEASE_SECS", TEST_LEASE_SECS)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn magictime serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let setup_token = std::sync::Arc::new(std::sync::Mutex::new(None));
        let found = setup_token.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some((_, rest)) = line.split_once("/setup?token=") {
                    let token = rest.split_whitespace().next().unwrap_or_default();
                    *found.lock().unwrap() = Some(token.to_owned());
                }
                // Keep draining so the server never blocks on a full pipe.
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("MagicTime ready at ") {
                    let _ = tx.send(url.trim().to_owned());
                }
                // Keep draining so the server never blocks on a full pipe.
            }
        });
        let timeout = Duration::from_secs(30);
        let t0 = Instant::now();
        let base = loop {
            if let Ok(url) = rx.recv_timeout(Duration::from_millis(100)) {
                break url;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("magictime serve exited before it was ready: {status}");
            }
            if t0.elapsed() > timeout {
                let _ = child.kill();
                panic!("server did not start within {timeout:?}");
            }
        };
        let server = Server {
            child,
            base,
            data_dir,
            insecure_http,
            setup_token,
        };
        server.wait_listening(timeout);
        server
    }

    fn wait_listening(&self, timeout: Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if std::net::TcpStream::connect(self.base.trim_start_matches("http://")).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not accept connections within {timeout:?}");
    }

    /// The `/setup` token the server logged at start (it has no admin), waiting up to 10 s.
    pub fn setup_token(&self) -> Option<String> {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Some(t) = self.setup_token.lock().unwrap().clone() {
                return Some(t);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The job lease of the servers and workers the tests start: a killed worker's job is taken
/// again this many seconds after its last renewal.
pub const TEST_LEASE_SECS: &str = "5";

/// A `magictime worker` process on a data dir; killed on drop. Its log lines are kept.
pub struct Worker {
    pub child: Child,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Worker {
    /// Starts `magictime worker --data-dir <data_dir>` with extra `args` and waits until it says
    /// it is ready.
    pub fn start(data_dir: &Path, args: &[&str]) -> Worker {
        let mut child = Command::new(magictime_bin())
            .arg("worker")
            .arg("--data-dir")
            .arg(data_dir)
            .args(database_args(data_dir))
            .args(args)
            .env_remove("MAGICTIME_CLIP")
            .env("MAGICTIME_LEASE_SECS", TEST_LEASE_SECS)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn magictime worker");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if line.starts_with("MagicTime worker ") {
                    let _ = tx.send(());
                }
            }
        });
        let kept = log.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                kept.lock().unwrap().push(line);
            }
        });
        let t0 = Instant::now();
        loop {
            if rx.recv_timeout(Duration::from_millis(100)).is_ok() {
                break;
            }
            if let Ok(Some(st)) = child.try_wait() {
                panic!(
                    "magictime worker exited before it was ready: {st}\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "worker not ready");
        }
        Worker { child, log }
    }

    /// Its log so far (stderr lines).
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The ids of the jobs it logged as done ("job=<id> … done").
    pub fn done_jobs(&self) -> Vec<i64> {
        self.jobs_logged(|l| l.contains(" done") && !l.contains("failed"))
    }

    /// The ids of the jobs it started ("job=<id> … started").
    pub fn started_jobs(&self) -> Vec<i64> {
        self.jobs_logged(|l| l.contains(" started"))
    }

    /// The ids of the jobs of its log lines that `pick` keeps.
    fn jobs_logged(&self, pick: impl Fn(&str) -> bool) -> Vec<i64> {
        self.log()
            .iter()
            .filter(|l| pick(l))
            .filter_map(|l| {
                let at = l.find("job=")? + 4;
                l[at..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            })
            .collect()
    }

    /// SIGKILL: what a crash, an OOM kill or a lost machine does (no lease is given back).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP client that keeps cookies (session, CSRF) and does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// GETs the login page and returns the CSRF token rendered into its form (the same value as the
/// `mt_csrf` cookie, which the server sets on a first visit). A login replaces it.
pub async fn csrf(c: &reqwest::Client, s: &Server) -> String {
    let body = c
        .get(s.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = body
        .find("name=\"csrf_token\"")
        .expect("login form has the CSRF field");
    let rest = &body[at..];
    let v = rest.find("value=\"").expect("value") + "value=\"".len();
    let token = rest[v..].split('"').next().unwrap().to_owned();
    assert_eq!(token.len(), 64, "token {token:?}");
    token
}

/// Logs in with a fresh cookie-keeping client; returns it and the CSRF token for later requests.
/// Panics unless the login succeeds.
pub async fn login(s: &Server, email: &str, password: &str) -> (reqwest::Client, String) {
    let c = client();
    let t = csrf(&c, s).await;
    let r = c
        .post(s.url("/api/login"))
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&[
            ("csrf_token", t.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "login {email}: {}",
        r.status()
    );
    let t = set_cookie(&r, "mt_csrf").expect("the login sets the session's CSRF token");
    (c, t)
}

/// The value a response's `Set-Cookie` gives cookie `name`, if it sets it.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(name)?.strip_prefix('='))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

/// POSTs a server function's form fields (after `csrf_token`) and asks for a JSON answer.
pub async fn post_form(
    c: &reqwest::Client,
    s: &Server,
    path: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("csrf_token", csrf)];
    form.extend_from_slice(fields);
    c.post(s.url(path))
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// `/api/generate` fields for a generation that runs long enough (100 steps, 16 frames at 64²)
/// to be caught running, or to keep later jobs queued behind it.
pub const LONG_GENERATION: [(&str, &str); 7] = [
    ("prompt", "a red flower blooming"),
    ("negative", ""),
    ("seed", "1"),
    ("steps", "100"),
    ("cfg", "4"),
    ("frames", "16"),
    ("size", "64"),
];

/// The jobs of `kind` as `/api/jobs?kind=` lists them (newest first).
pub async fn jobs_of(c: &reqwest::Client, s: &Server, kind: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = c
        .get(s.url(&format!("/api/jobs?kind={kind}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v.as_array().expect("a job list").clone()
}

/// Polls the jobs of `kind` (all for "") until `ready(jobs)` holds; panics after `limit`, with
/// the list.
pub async fn wait_until(
    c: &reqwest::Client,
    s: &Server,
    kind: &str,
    limit: Duration,
    ready: impl Fn(&[serde_json::Value]) -> bool,
) {
    let t0 = Instant::now();
    loop {
        let jobs = jobs_of(c, s, kind).await;
        if ready(&jobs) {
            return;
        }
        assert!(t0.elapsed() < limit, "{jobs:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `n` one-second 64² test-pattern clips (`clip0.mp4`, …, hue turned by `hue_step`° each) and
/// their ChronoMagic manifest `fake.csv` in `<dir>/evalset/`, an evaluation job's input.
pub fn make_evalset(dir: &Path, n: usize, hue_step: usize) {
    let set = dir.join("evalset");
    std::fs::create_dir_all(&set).unwrap();
    let mut csv = String::from("videoid,name,is_transmit\n");
    for i in 0..n {
        let st = Command::new("ffmpeg")
            .args(["-y", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg(format!("testsrc=s=64x64:r=8:d=1,hue=h={}", i * hue_step))
            .args(["-pix_fmt", "yuv420p"])
            .arg(set.join(format!("clip{i}.mp4")))
            .status()
            .expect("ffmpeg");
        assert!(st.success());
        csv.push_str(&format!("clip{i},a red flower blooming,1\n"));
    }
    std::fs::write(set.join("fake.csv"), csv).unwrap();
}

/// The frames ffprobe decodes from the video (MP4, GIF, animated WebP) at `path`.
pub fn ffprobe_frames(path: &Path) -> u32 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{}: frame count {text:?}", path.display()))
}

/// The frames of an animated WebP: its `ANMF` chunks, read from the RIFF container (ffprobe
/// 5.1 cannot decode animated WebP). Panics when `bytes` is no WebP.
pub fn webp_frames(bytes: &[u8]) -> u32 {
    assert!(
        bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        "not a WebP"
    );
    let (mut at, mut frames) = (12, 0);
    while at + 8 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if &bytes[at..at + 4] == b"ANMF" {
            frames += 1;
        }
        at += 8 + size + size % 2;
    }
    assert_eq!(at, bytes.len(), "a truncated WebP");
    frames
}

/// The official release's `ckpts/` tree in tiny random weights, written by
/// `tools/parity/make_ckpts_fixtures.py` (the model crate's fixtures).
pub fn ckpts_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/ckpts/ckpts")
}

/// Job `id` of a list (panics when it is not there).
pub fn job_in(jobs: &[serde_json::Value], id: i64) -> &serde_json::Value {
    jobs.iter().find(|j| j["id"] == id).expect("job listed")
}

/// Polls job `id` of `kind` until it is done or failed; panics after `limit`.
pub async fn wait_job(
    c: &reqwest::Client,
    s: &Server,
    kind: &str,
    id: i64,
    limit: Duration,
) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        let job = job_in(&jobs_of(c, s, kind).await, id).clone();
        if matches!(job["status"].as_str(), Some("done" | "failed")) {
            return job;
        }
        assert!(t0.elapsed() < limit, "not finished: {job}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
