//! The scenes of ChronoMagic-Synth: what each one draws at progress `k` ∈ [0, 1] and how its
//! caption names it. Metamorphic scenes change state (bloom, melt, rise); general ones only move.

use std::f32::consts::{PI, TAU};

use super::canvas::{lerp, mix, shade, Canvas, Named};
use super::{Category, ClipKind};

/// Every scene the generator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scene {
    FlowerBlooming,
    FlowerWilting,
    PlantGrowing,
    FruitRipening,
    IceMelting,
    CandleBurning,
    PaintSpreading,
    PaintDrying,
    Sunrise,
    Sunset,
    CloudsForming,
    CloudsDissipating,
    SnowAccumulating,
    BuildingRising,
    BridgeAssembling,
    BallRolling,
    BallBouncing,
    ShapeRotating,
    LandscapePan,
    CarDriving,
}

/// How fast the transformation runs within the clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speed {
    Slow,
    Normal,
    Fast,
}

/// Camera motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Camera {
    Static,
    PanLeft,
    PanRight,
    ZoomIn,
    ZoomOut,
}

/// The random choices of one clip.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Params {
    pub object: String,
    pub object_rgb: [u8; 3],
    pub background: String,
    pub background_rgb: [u8; 3],
    pub speed: Speed,
    pub camera: Camera,
    /// Scene-specific count (petals, floors, bridge segments, clouds).
    pub count: u32,
    /// Uniform [0, 1) numbers for positions and shapes.
    pub jitter: [f32; 4],
}

impl Params {
    pub fn new(
        obj: Named,
        bg: Named,
        speed: Speed,
        camera: Camera,
        count: u32,
        jitter: [f32; 4],
    ) -> Self {
        Self {
            object: obj.name.into(),
            object_rgb: obj.rgb,
            background: bg.name.into(),
            background_rgb: bg.rgb,
            speed,
            camera,
            count,
            jitter,
        }
    }
}

impl Speed {
    /// Progress of the transformation at clip time `t` ∈ [0, 1].
    pub fn progress(self, t: f32) -> f32 {
        match self {
            Speed::Slow => 0.2 + 0.6 * t,
            Speed::Normal => t,
            Speed::Fast => (1.5 * t).min(1.0),
        }
    }

    fn adverb(self) -> &'static str {
        match self {
            Speed::Slow => "slowly ",
            Speed::Normal => "",
            Speed::Fast => "quickly ",
        }
    }
}

impl Camera {
    /// (scale, dx, dy) at clip time `t`.
    pub fn at(self, t: f32) -> (f32, f32, f32) {
        match self {
            Camera::Static => (1.0, 0.0, 0.0),
            Camera::PanLeft => (1.2, lerp(-0.08, 0.08, t), 0.0),
            Camera::PanRight => (1.2, lerp(0.08, -0.08, t), 0.0),
            Camera::ZoomIn => (lerp(1.0, 1.35, t), 0.0, 0.0),
            Camera::ZoomOut => (lerp(1.35, 1.0, t), 0.0, 0.0),
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            Camera::Static => "",
            Camera::PanLeft => ", the camera panning left",
            Camera::PanRight => ", the camera panning right",
            Camera::ZoomIn => ", the camera slowly zooming in",
            Camera::ZoomOut => ", the camera slowly zooming out",
        }
    }
}

impl Scene {
    pub const METAMORPHIC: [Scene; 15] = [
        Scene::FlowerBlooming,
        Scene::FlowerWilting,
        Scene::PlantGrowing,
        Scene::FruitRipening,
        Scene::IceMelting,
        Scene::CandleBurning,
        Scene::PaintSpreading,
        Scene::PaintDrying,
        Scene::Sunrise,
        Scene::Sunset,
        Scene::CloudsForming,
        Scene::CloudsDissipating,
        Scene::SnowAccumulating,
        Scene::BuildingRising,
        Scene::BridgeAssembling,
    ];
    pub const GENERAL: [Scene; 5] = [
        Scene::BallRolling,
        Scene::BallBouncing,
        Scene::ShapeRotating,
        Scene::LandscapePan,
        Scene::CarDriving,
    ];

    pub fn category(self) -> Category {
        use Scene::*;
        match self {
            FlowerBlooming | FlowerWilting | PlantGrowing | FruitRipening => Category::Biological,
            IceMelting | CandleBurning | PaintSpreading | PaintDrying => Category::Physical,
            Sunrise | Sunset | CloudsForming | CloudsDissipating | SnowAccumulating => {
                Category::Meteorological
            }
            BuildingRising | BridgeAssembling => Category::HumanCreation,
            BallRolling | BallBouncing | ShapeRotating | LandscapePan | CarDriving => {
                Category::General
            }
        }
    }

    pub fn kind(self) -> ClipKind {
        if self.category() == Category::General {
            ClipKind::General
        } else {
            ClipKind::Metamorphic
        }
    }

    /// snake_case name (as in the manifest).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Range of the scene-specific count.
    pub fn count_range(self) -> (u32, u32) {
        use Scene::*;
        match self {
            FlowerBlooming | FlowerWilting => (5, 9),
            BuildingRising => (6, 12),
            BridgeAssembling => (5, 9),
            CloudsForming | CloudsDissipating => (2, 4),
            _ => (3, 6),
        }
    }

    /// The caption, naming object, colour, background, speed and camera.
    pub fn caption(self, p: &Params) -> String {
        use Scene::*;
        let (o, b, a) = (p.object.as_str(), p.background.as_str(), p.speed.adverb());
        let body = match self {
            FlowerBlooming => format!("Time-lapse of a {o} flower {a}blooming, its petals opening against a {b} background"),
            FlowerWilting => format!("Time-lapse of a {o} flower {a}wilting, its petals drooping and turning brown against a {b} background"),
            PlantGrowing => format!("Time-lapse of a green plant {a}growing from the soil and unfolding leaves in a {o} pot against a {b} background"),
            FruitRipening => format!("Time-lapse of a fruit on a branch {a}ripening from green to {o} against a {b} background"),
            IceMelting => format!("Time-lapse of a block of ice {a}melting into a spreading puddle on a {o} table against a {b} background"),
            CandleBurning => format!("Time-lapse of a {o} candle {a}burning down, its wax shrinking under the flame against a {b} background"),
            PaintSpreading => format!("Time-lapse of {o} paint {a}spreading across a {b} surface"),
            PaintDrying => format!("Time-lapse of glossy {o} paint {a}drying to a matte finish on a {b} wall"),
            Sunrise => format!("Time-lapse of a {o} sun {a}rising over {b} hills as the sky brightens from night to day"),
            Sunset => format!("Time-lapse of a {o} sun {a}setting behind {b} hills as the sky darkens from day to night"),
            CloudsForming => format!("Time-lapse of {o} clouds {a}forming and thickening in a {b} sky"),
            CloudsDissipating => format!("Time-lapse of {o} clouds {a}dissipating and vanishing from a {b} sky"),
            SnowAccumulating => format!("Time-lapse of snow {a}accumulating on the ground and on a {o} house under a {b} sky"),
            BuildingRising => format!("Time-lapse of a {o} building {a}rising floor by floor, {n} storeys tall, against a {b} sky", n = p.count),
            BridgeAssembling => format!("Time-lapse of a {o} bridge {a}being assembled segment by segment across a river under a {b} sky"),
            BallRolling => format!("A {o} ball rolling across a {b} floor"),
            BallBouncing => format!("A {o} ball bouncing in front of a {b} background"),
            ShapeRotating => format!("A {o} square spinning in place in front of a {b} background"),
            LandscapePan => format!("A calm landscape with a {o} house and {b} hills"),
            CarDriving => format!("A {o} car driving along a road in front of a {b} background"),
        };
        format!("{body}{}.", p.camera.phrase())
    }

    /// Draw the scene at progress `k` (state) and clip time `t` (motion, flicker).
    pub fn draw(self, c: &mut Canvas, p: &Params, k: f32, t: f32) {
        use Scene::*;
        let (o, b, j) = (p.object_rgb, p.background_rgb, p.jitter);
        match self {
            FlowerBlooming => flower(c, o, b, k, 0.0, p.count, j),
            FlowerWilting => flower(c, o, b, 1.0, k, p.count, j),
            PlantGrowing => plant(c, o, b, k, j),
            FruitRipening => fruit(c, o, b, k, j),
            IceMelting => ice(c, o, b, k, j),
            CandleBurning => candle(c, o, b, k, t, j),
            PaintSpreading => paint_spread(c, o, b, k, j),
            PaintDrying => paint_dry(c, o, b, k, j),
            Sunrise => sun(c, o, b, k, j),
            Sunset => sun(c, o, b, 1.0 - k, j),
            CloudsForming => clouds(c, o, b, k, p.count, j),
            CloudsDissipating => clouds(c, o, b, 1.0 - k, p.count, j),
            SnowAccumulating => snow(c, o, b, k, t, j),
            BuildingRising => building(c, o, b, k, p.count, j),
            BridgeAssembling => bridge(c, o, b, k, p.count, j),
            BallRolling => {
                c.background(b, b);
                c.rect(-1.0, 0.8, 3.0, 1.0, shade(b, 0.7), 1.0);
                let r = 0.08 + 0.04 * j[0];
                let x = lerp(0.12, 0.88, t);
                c.circle(x, 0.8 - r, r, o, 1.0);
                let a = x / r;
                c.circle(
                    x + 0.5 * r * a.cos(),
                    0.8 - r + 0.5 * r * a.sin(),
                    r * 0.2,
                    shade(o, 0.6),
                    1.0,
                );
            }
            BallBouncing => {
                c.background(b, shade(b, 0.8));
                let r = 0.08 + 0.04 * j[0];
                let x = lerp(0.15, 0.85, t);
                let y = 0.85 - r - 0.55 * (PI * (2.0 * t + j[1])).sin().abs();
                c.ellipse(x, 0.87, r, r * 0.25, 0.0, shade(b, 0.5), 0.6);
                c.circle(x, y, r, o, 1.0);
            }
            ShapeRotating => {
                c.background(b, b);
                let s = 0.18 + 0.06 * j[0];
                let a = TAU * t * (0.5 + j[1]);
                let pts: Vec<(f32, f32)> = (0..4)
                    .map(|i| {
                        let q = a + i as f32 * PI / 2.0 + PI / 4.0;
                        (0.5 + s * 1.414 * q.cos(), 0.5 + s * 1.414 * q.sin())
                    })
                    .collect();
                c.polygon(&pts, o, 1.0);
            }
            LandscapePan => {
                c.background([150, 200, 240], [210, 230, 250]);
                hills(c, b, j);
                house(c, 0.3 + 0.3 * j[2], 0.72, 0.16, o);
            }
            CarDriving => {
                c.background(b, b);
                c.rect(-1.0, 0.75, 3.0, 1.0, [60, 60, 65], 1.0);
                let x = lerp(-0.1, 0.75, t);
                c.rect(x, 0.6, 0.3, 0.1, o, 1.0);
                c.rect(x + 0.06, 0.53, 0.16, 0.08, shade(o, 0.85), 1.0);
                c.circle(x + 0.07, 0.71, 0.035, [20, 20, 20], 1.0);
                c.circle(x + 0.23, 0.71, 0.035, [20, 20, 20], 1.0);
            }
        }
    }
}

fn hills(c: &mut Canvas, col: [u8; 3], j: [f32; 4]) {
    c.ellipse(0.2 + 0.2 * j[0], 0.95, 0.6, 0.3, 0.0, shade(col, 0.85), 1.0);
    c.ellipse(0.8 - 0.2 * j[1], 1.0, 0.7, 0.32, 0.0, col, 1.0);
    c.rect(-1.0, 0.9, 3.0, 1.0, col, 1.0);
}

fn house(c: &mut Canvas, x: f32, ground: f32, s: f32, col: [u8; 3]) {
    c.rect(x, ground - s, s, s, col, 1.0);
    c.polygon(
        &[
            (x - 0.02, ground - s),
            (x + s / 2.0, ground - 1.6 * s),
            (x + s + 0.02, ground - s),
        ],
        shade(col, 0.6),
        1.0,
    );
    c.rect(
        x + s * 0.4,
        ground - s * 0.5,
        s * 0.2,
        s * 0.5,
        shade(col, 0.4),
        1.0,
    );
}

/// Flower: `open` ∈ [0,1] bud → bloom; `wilt` ∈ [0,1] fresh → drooped and brown.
fn flower(c: &mut Canvas, o: [u8; 3], b: [u8; 3], open: f32, wilt: f32, n: u32, j: [f32; 4]) {
    c.background(b, shade(b, 0.85));
    c.rect(-1.0, 0.86, 3.0, 1.0, [90, 60, 35], 1.0);
    let x = 0.45 + 0.1 * j[0];
    let head = (x + 0.12 * wilt, 0.4 + 0.2 * wilt);
    let stem = [50, 130, 50];
    c.line(
        (x, 0.87),
        (x + 0.02 * wilt, 0.62),
        0.025,
        mix(stem, [110, 100, 40], wilt),
    );
    c.line(
        (x + 0.02 * wilt, 0.62),
        head,
        0.025,
        mix(stem, [110, 100, 40], wilt),
    );
    c.ellipse(
        x - 0.07,
        0.7,
        0.07,
        0.025,
        0.4 + 0.6 * wilt,
        mix(stem, [110, 100, 40], wilt),
        1.0,
    );
    let col = mix(o, [120, 80, 40], wilt);
    let len = (0.05 + 0.15 * open) * (1.0 - 0.35 * wilt);
    let wid = (0.025 + 0.045 * open) * (1.0 - 0.3 * wilt);
    let spread = open * TAU / n as f32;
    for i in 0..n {
        let rel = i as f32 - (n as f32 - 1.0) / 2.0;
        let mut ang = -PI / 2.0 + rel * spread.max(0.15);
        ang += wilt
            * 0.9
            * (PI / 2.0 - ang).signum().min(1.0)
            * (1.0 - (ang + PI / 2.0).cos().abs() * 0.3);
        let (cx, cy) = (
            head.0 + 0.6 * len * ang.cos(),
            head.1 + 0.6 * len * ang.sin(),
        );
        c.ellipse(
            cx,
            cy,
            len * 0.6,
            wid,
            ang,
            shade(col, 0.9 + 0.1 * (i % 2) as f32),
            1.0,
        );
    }
    c.circle(
        head.0,
        head.1,
        0.02 + 0.03 * open,
        mix([240, 200, 40], [90, 60, 30], wilt),
        1.0,
    );
}

fn plant(c: &mut Canvas, o: [u8; 3], b: [u8; 3], k: f32, j: [f32; 4]) {
    c.background(b, shade(b, 0.9));
    let x = 0.45 + 0.1 * j[0];
    c.polygon(
        &[
            (x - 0.16, 0.72),
            (x + 0.16, 0.72),
            (x + 0.12, 0.95),
            (x - 0.12, 0.95),
        ],
        o,
        1.0,
    );
    c.rect(x - 0.15, 0.72, 0.3, 0.03, [80, 55, 30], 1.0);
    let top = 0.72 - (0.03 + 0.6 * k);
    c.line((x, 0.73), (x, top), 0.022, [60, 140, 55]);
    for i in 0..6 {
        let y = 0.68 - 0.1 * i as f32;
        if y > top {
            let grown = ((y - top) / 0.12).clamp(0.0, 1.0);
            let side = if i % 2 == 0 { 1.0 } else { -1.0 };
            c.ellipse(
                x + side * 0.06 * grown,
                y,
                0.065 * grown,
                0.025 * grown,
                side * -0.5,
                [70, 160, 60],
                1.0,
            );
        }
    }
}

fn fruit(c: &mut Canvas, o: [u8; 3], b: [u8; 3], k: f32, j: [f32; 4]) {
    c.background(b, shade(b, 0.85));
    c.line((-0.1, 0.15 + 0.1 * j[0]), (1.1, 0.2), 0.05, [100, 70, 40]);
    c.ellipse(0.35, 0.25, 0.1, 0.04, 0.3, [60, 140, 50], 1.0);
    let x = 0.5 + 0.1 * (j[1] - 0.5);
    let r = 0.11 + 0.06 * k;
    c.line((x, 0.19), (x, 0.35), 0.015, [90, 70, 40]);
    c.circle(x, 0.35 + r, r, mix([90, 170, 60], o, k), 1.0);
    c.circle(
        x - r * 0.35,
        0.35 + r * 0.65,
        r * 0.25,
        [255, 255, 255],
        0.35,
    );
}

fn ice(c: &mut Canvas, o: [u8; 3], b: [u8; 3], k: f32, j: [f32; 4]) {
    c.background(b, shade(b, 0.9));
    c.rect(-1.0, 0.7, 3.0, 1.0, o, 1.0);
    let x = 0.5 + 0.1 * (j[0] - 0.5);
    c.ellipse(
        x,
        0.74,
        0.06 + 0.4 * k,
        0.02 + 0.07 * k,
        0.0,
        [150, 200, 235],
        0.8,
    );
    let s = 0.34 * (1.0 - 0.9 * k);
    let rounding = 0.3 + 0.7 * k;
    c.rect(x - s / 2.0, 0.72 - s, s, s, [200, 235, 250], 0.95);
    c.ellipse(
        x,
        0.72 - s,
        s / 2.0,
        s * 0.15 * rounding,
        0.0,
        [230, 250, 255],
        0.9,
    );
    c.rect(
        x - s * 0.3,
        0.72 - s * 0.85,
        s * 0.15,
        s * 0.5,
        [255, 255, 255],
        0.6,
    );
}

fn candle(c: &mut Canvas, o: [u8; 3], b: [u8; 3], k: f32, t: f32, j: [f32; 4]) {
    c.background(shade(b, 0.7), b);
    c.rect(-1.0, 0.85, 3.0, 1.0, [70, 50, 35], 1.0);
    let x = 0.5 + 0.1 * (j[0] - 0.5);
    let h = 0.6 * (1.0 - 0.85 * k);
    c.ellipse(
        x,
        0.85,
        0.09 + 0.08 * k,
        0.02 + 0.01 * k,
        0.0,
        shade(o, 0.9),
        1.0,
    );
    c.rect(x - 0.07, 0.85 - h, 0.14, h, o, 1.0);
    c.line((x, 0.85 - h), (x, 0.83 - h), 0.01, [30, 30, 30]);
    let flick = 1.0 + 0.15 * (t * 40.0 + j[1] * 10.0).sin();
    c.ellipse(x, 0.8 - h, 0.025, 0.05 * flick, 0.0, [255, 170, 40], 1.0);
    c.ellipse(x, 0.81 - h, 0.012, 0.025 * flick, 0.0, [255, 240, 180], 1.0);
}

fn paint_spread(c: &mut Canvas, o: [u8; 3], b: [u8; 3], k: f32, j: [f32; 4]) {
    c.background(b, b);
    let (cx, cy) = (0.4 + 0.2 * j[0], 0.4 + 0.2 * j[1]);
    let r = 0.03 + 0.45 * k;
    let lobes = 3.0 + (j[2] * 4.0).floor();
    let pts: Vec<(f32, f32)> = (0..48)
        .map(|i| {
            let a = i as f32 / 48.0 * TAU;
            let rr = r * (1.0 + 0.22 * (lobes * a + j[3] * TAU).sin());
            (cx + rr * a.cos(), cy + rr * a.sin())
        })
        .collect();
    c.polygon(&pts, o, 1.0);
}

fn paint_dry(c: &mut Canvas, o: [u8; 3], b: [u8; 3], k: f32, j: [f32; 4]) {
    c.background(b, b);
    let wet = shade(o, 1.15);
    c.rect(0.12, 0.12, 0.76, 0.76, mix(wet, shade(o, 0.8), k), 1.0);
    c.ellipse(
        0.35 + 0.2 * j[0],
        0.3,
        0.18,
        0.06,
        -0.3,
        [255, 255, 255],
        0.55 * (1.0 - k),
    );
    c.ellipse(
        0.6,
        0.65 + 0.1 * j[1],
        0.12,
        0.04,
        -0.3,
        [255, 255, 255],
        0.4 * (1.0 - k),
    );
    if k > 0.6 {
        let a = (k - 0.6) / 0.4;
        c.line((0.3, 0.5), (0.3 + 0.2 * a, 0.55), 0.006, shade(o, 0.55));
    }
}

fn sun(c: &mut Canvas, o: [u8; 3], b: [u8; 3], k: f32, j: [f32; 4]) {
    let top = mix([10, 15, 45], [80, 150, 230], k);
    let bottom = mix(
        [40, 30, 70],
        [250, 190, 130],
        k.min(0.6) / 0.6 * (1.0 - 0.4 * k),
    );
    c.background(top, bottom);
    c.circle(0.3 + 0.4 * j[0], lerp(0.95, 0.25, k), 0.09, o, 1.0);
    hills(c, shade(b, 0.4 + 0.6 * k), j);
}

fn clouds(c: &mut Canvas, o: [u8; 3], b: [u8; 3], k: f32, n: u32, j: [f32; 4]) {
    c.background(b, shade(b, 1.15));
    for i in 0..n {
        let f = i as f32 / n as f32;
        let (x, y) = (
            0.15 + 0.7 * ((f + j[0]) % 1.0),
            0.2 + 0.5 * ((f * 1.7 + j[1]) % 1.0),
        );
        let s = 0.04 + 0.12 * k;
        for (dx, dy, r) in [
            (-1.0, 0.2, 0.8),
            (0.0, -0.2, 1.0),
            (1.0, 0.2, 0.85),
            (0.5, 0.4, 0.7),
            (-0.5, 0.4, 0.7),
        ] {
            c.circle(x + dx * s, y + dy * s, r * s, o, (0.15 + 0.85 * k).min(1.0));
        }
    }
}

fn snow(c: &mut Canvas, o: [u8; 3], b: [u8; 3], k: f32, t: f32, j: [f32; 4]) {
    c.background(b, shade(b, 1.4));
    c.rect(-1.0, 0.8, 3.0, 1.0, [70, 90, 60], 1.0);
    let depth = 0.01 + 0.2 * k;
    c.rect(-1.0, 0.8 - depth * 0.5, 3.0, 1.0, [245, 248, 255], 1.0);
    let x = 0.3 + 0.2 * j[0];
    house(c, x, 0.8 - depth * 0.5, 0.22, o);
    let roof = 0.8 - depth * 0.5 - 0.22 * 1.6;
    c.ellipse(
        x + 0.11,
        roof + 0.03,
        0.09 * k,
        0.03 * k,
        0.0,
        [245, 248, 255],
        1.0,
    );
    for i in 0..24 {
        let fx = ((i as f32 * 0.618 + j[1]) % 1.0) * 1.2 - 0.1;
        let fy = ((i as f32 * 0.377 + j[2] + t * 0.8) % 1.0) * 0.85;
        c.circle(fx, fy, 0.008, [255, 255, 255], 0.9);
    }
}

fn building(c: &mut Canvas, o: [u8; 3], b: [u8; 3], k: f32, n: u32, j: [f32; 4]) {
    c.background(b, shade(b, 1.1));
    c.rect(-1.0, 0.88, 3.0, 1.0, [90, 85, 75], 1.0);
    let x = 0.3 + 0.15 * j[0];
    let (w, fh) = (0.3, 0.78 / n as f32);
    let built = k * n as f32;
    for f in 0..n {
        let part = (built - f as f32).clamp(0.0, 1.0);
        if part <= 0.0 {
            break;
        }
        let y = 0.88 - (f as f32 + part) * fh;
        c.rect(
            x,
            y,
            w,
            fh * part,
            shade(o, 0.9 + 0.1 * (f % 2) as f32),
            1.0,
        );
        if part >= 1.0 {
            for wi in 0..3 {
                c.rect(
                    x + 0.03 + wi as f32 * 0.095,
                    y + fh * 0.25,
                    0.05,
                    fh * 0.45,
                    [250, 240, 170],
                    1.0,
                );
            }
        }
    }
    let top = 0.88 - built * fh;
    c.line(
        (x + w + 0.1, 0.88),
        (x + w + 0.1, top - 0.1),
        0.012,
        [230, 180, 30],
    );
    c.line(
        (x + w + 0.1, top - 0.1),
        (x + w * 0.3, top - 0.1),
        0.01,
        [230, 180, 30],
    );
}

fn bridge(c: &mut Canvas, o: [u8; 3], b: [u8; 3], k: f32, n: u32, j: [f32; 4]) {
    c.background(b, shade(b, 1.1));
    c.rect(-1.0, 0.7, 3.0, 1.0, [50, 100, 160], 1.0);
    let (l, r) = (0.15 + 0.05 * j[0], 0.85 - 0.05 * j[1]);
    c.rect(-1.0, 0.55, 1.0 + l, 1.0, [100, 90, 70], 1.0);
    c.rect(r, 0.55, 1.0, 1.0, [100, 90, 70], 1.0);
    let seg = (r - l) / n as f32;
    let placed = (k * n as f32).floor() as u32;
    for i in 0..placed.min(n) {
        // Segments alternate from both banks towards the middle.
        let idx = if i % 2 == 0 { i / 2 } else { n - 1 - i / 2 };
        let x = l + idx as f32 * seg;
        c.rect(x, 0.52, seg + 0.002, 0.04, o, 1.0);
        if idx % 2 == 1 {
            c.rect(x + seg * 0.4, 0.56, seg * 0.2, 0.2, shade(o, 0.7), 1.0);
        }
    }
}
