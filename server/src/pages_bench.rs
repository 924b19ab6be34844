//! `magictime bench-pages`: how fast the gallery and a generation's page answer with many
//! finished generations. A fresh data dir (SQLite, or an empty PostgreSQL database:
//! `--database-url`) gets N finished generations (settings and provenance as a real one has
//! them) and a researcher's session; this binary's own `serve --no-worker` serves it, and each
//! page is asked for sequentially over loopback (a new connection per request, the whole answer
//! read), after a warm-up. Latencies are the client's: the server's share plus a loopback
//! round trip.
use std::{
    io::{Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use clap::Args;
use magictime_app::{
    ssr::{auth, db},
    types::Role,
};

use crate::serve::DatabaseArgs;

#[derive(Args, Clone, Debug)]
pub struct BenchPagesArgs {
    /// Finished generations in the gallery.
    #[arg(long, default_value_t = 1000)]
    pub generations: usize,
    /// Requests per page (after 20 to warm up).
    #[arg(long, default_value_t = 300)]
    pub requests: usize,
    /// Where the fresh data dir goes (a temporary folder by default).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// An empty PostgreSQL database to measure instead of SQLite.
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// A finished generation's parameters and result, as the worker records them.
fn generation(i: usize) -> (String, String) {
    let prompt = format!(
        "{} {} blooming on a wooden table, time-lapse, seed study {i}",
        ["a red", "a blue", "a yellow", "a white"][i % 4],
        ["rose", "tulip", "lily", "poppy", "crocus"][i % 5]
    );
    let params = serde_json::json!({
        "prompt": prompt, "negative": "worst quality, low quality, letterboxed",
        "seed": i, "steps": 25, "cfg": 7.5, "frames": 16, "size": 64, "fps": 8.0,
        "model": "builtin", "dreambooth": null, "adapters": ["s", "t", "te"], "formats": ["gif"],
    });
    let files: Vec<serde_json::Value> = ["unet", "vae", "text_encoder", "motion", "adapter_s"]
        .iter()
        .map(|r| {
            serde_json::json!({"role": r, "name": format!("{r}/model.safetensors"),
                "sha256": "ab".repeat(32), "bytes": 1_234_567})
        })
        .collect();
    let result = serde_json::json!({
        "id": i, "requested_by": "bench@example.org", "created_at": "2026-01-01T00:00:00.000Z",
        "params": params, "model": "the built-in model; Magic Adapter S, T, Text-Encoder",
        "model_files": files, "software": "magictime 0.1.0", "seconds": 12.5,
        "files": [format!("generated/{i}.mp4"), format!("generated/{i}.gif"),
                  format!("generated/{i}.zip")],
        "video": format!("generated/{i}.mp4"),
    });
    (params.to_string(), result.to_string())
}

/// One GET of `path` with the session cookie: the time to the last byte; an error unless the
/// answer is a 200 that holds `want` (what the page is measured for).
fn get(addr: &str, path: &str, cookie: &str, want: &str) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let accept = if path.starts_with("/api/") {
        "application/json"
    } else {
        "text/html"
    };
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: mt_session={cookie}\r\n\
         Accept: {accept}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    let took = t0.elapsed();
    let text = String::from_utf8_lossy(&answer);
    if !text.starts_with("HTTP/1.1 200") || !text.contains(want) {
        let head: String = text.chars().take(300).collect();
        anyhow::bail!("{path}: not a 200 holding {want:?}: {head}");
    }
    Ok(took)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub async fn run(args: BenchPagesArgs) -> anyhow::Result<()> {
    if args.generations == 0 || args.requests == 0 {
        anyhow::bail!("--generations and --requests must be at least 1");
    }
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let url = args.database.url(&dir);
    if args.database.database_url.is_none() && dir.join("magictime.sqlite").exists() {
        anyhow::bail!("{}: has a database; give a fresh --dir", dir.display());
    }
    let pool = db::open(&url).await?;
    let user =
        auth::create_user(&pool, "bench@example.org", "bench-pass-1", Role::Researcher).await?;
    let mut tx = pool.begin().await?;
    for i in 0..args.generations {
        let (params, result) = generation(i);
        sqlx::query(
            "INSERT INTO jobs(kind, status, params, result, progress, created_by, finished_at) \
             VALUES ('generate', 'done', $1, $2, 1, $3, '2026-01-01T00:00:10.000Z')",
        )
        .bind(params)
        .bind(result)
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let session = auth::create_session(&pool, user.id).await?;
    pool.close().await;

    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "serve",
            "--no-worker",
            "--insecure-http",
            "--addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(&dir)
        .args(
            args.database
                .database_url
                .iter()
                .flat_map(|u| ["--database-url", u.as_str()]),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let out = child.stdout.take().expect("piped");
    let addr = {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(out).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) => {
                    if let Some(u) = l.strip_prefix("MagicTime ready at http://") {
                        break u.trim().to_owned();
                    }
                }
                _ => {
                    let _ = child.kill();
                    anyhow::bail!("the server did not start");
                }
            }
        }
    };
    let middle = args.generations / 2 + 1;
    // (page, what its answer must hold): the newest and the oldest card, a search's match,
    // the page's settings, the JSON's total
    let n = args.generations;
    let pages = [
        ("/gallery".to_owned(), format!("data-testid=\"gen-{n}\"")),
        (
            format!("/gallery?page={}", n.div_ceil(24)),
            "data-testid=\"gen-1\"".to_owned(),
        ),
        ("/gallery?q=tulip".to_owned(), "tulip blooming".to_owned()),
        (
            format!("/gallery?q=seed%20study%20{}", n - 1),
            format!("data-testid=\"gen-{n}\""),
        ),
        (
            format!("/generations/{middle}"),
            "data-field=\"prompt\"".to_owned(),
        ),
        (
            "/api/gallery?mine=false&q=&page=1".to_owned(),
            format!("\"total\":{n}"),
        ),
    ];
    println!(
        "{} finished generations, {} requests per page (sequential, a new loopback connection each)",
        args.generations, args.requests
    );
    println!("| page | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|");
    let measured = (|| -> anyhow::Result<()> {
        for (page, want) in &pages {
            let mut times = vec![];
            for i in 0..args.requests + 20 {
                let took = get(&addr, page, &session, want)?;
                if i >= 20 {
                    times.push(took);
                }
            }
            times.sort();
            let at = |q: f64| {
                times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1]
            };
            println!(
                "| `{page}` | {:.2} | {:.2} | {:.2} |",
                ms(at(0.5)),
                ms(at(0.99)),
                ms(*times.last().expect("measured"))
            );
        }
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    measured
}
