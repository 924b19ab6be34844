//! Honest quality probe of the built-in default model: for the captions of held-out
//! ChronoMagic-Synth clips (seed 1, not the training seed 0), generate a video and compare it with
//! the real clip: mean colour of the first and last frame and the mean absolute change between
//! them (how much the video transforms). Prints a table and the colour correlation.

use magictime_model::backend::Cpu;
use magictime_model::default_model;
use magictime_model::train::data::SynthSet;

fn stats(frames: &[Vec<f32>]) -> ([f64; 3], [f64; 3], f64) {
    let mean = |f: &Vec<f32>| {
        let mut m = [0.0; 3];
        for px in f.chunks(3) {
            for c in 0..3 {
                m[c] += f64::from(px[c]);
            }
        }
        m.map(|x| x / (f.len() / 3) as f64)
    };
    let (a, b) = (&frames[0], &frames[frames.len() - 1]);
    let change = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs()))
        .sum::<f64>()
        / a.len() as f64;
    (mean(a), mean(b), change)
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().nth(1).map_or(Ok(12), |s| s.parse())?;
    let device = Default::default();
    let p = default_model::load_default::<Cpu>(&device)?;
    let data = SynthSet::generate(n, 32, 8, 1)?;
    let (mut gen_c, mut real_c) = (vec![], vec![]);
    let (mut gen_m, mut real_m) = (vec![], vec![]);
    for i in 0..n {
        let mut o = default_model::default_options(data.captions[i].clone());
        o.seed = i as u64;
        let v = p.generate(&o, &mut |_| {})?;
        let g: Vec<Vec<f32>> = (0..v.frames)
            .map(|f| v.frame(f).iter().map(|&x| f32::from(x) / 255.0).collect())
            .collect();
        // real clip as [f][y][x][c] in [0,1]
        let s = 32 * 32;
        let r: Vec<Vec<f32>> = (0..8)
            .map(|f| {
                (0..s)
                    .flat_map(|px| (0..3).map(move |c| (c, px)))
                    .map(|(c, px)| {
                        f32::from(data.pixels[i * 3 * 8 * s + (c * 8 + f) * s + px]) / 255.0
                    })
                    .collect()
            })
            .collect();
        let (g0, g1, gc) = stats(&g);
        let (r0, r1, rc) = stats(&r);
        println!(
            "{:>2} gen first {:.2?} last {:.2?} change {:.3} | real first {:.2?} last {:.2?} change {:.3} | {}",
            i, g0, g1, gc, r0, r1, rc, data.captions[i]
        );
        gen_c.extend(g0.iter().chain(&g1));
        real_c.extend(r0.iter().chain(&r1));
        gen_m.push(gc);
        real_m.push(rc);
    }
    let corr = |a: &[f64], b: &[f64]| {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    };
    println!(
        "mean-colour correlation generated vs real (first+last frames, RGB): {:.3}",
        corr(&gen_c, &real_c)
    );
    println!(
        "first→last change correlation: {:.3}",
        corr(&gen_m, &real_m)
    );
    println!(
        "mean first→last change: generated {:.3}, real {:.3}",
        gen_m.iter().sum::<f64>() / n as f64,
        real_m.iter().sum::<f64>() / n as f64
    );
    Ok(())
}
