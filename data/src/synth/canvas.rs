//! A small drawing surface over tiny-skia in normalised coordinates ([0,1]², y down) with a
//! camera transform, plus the named colour palettes the captions use.

use image::RgbImage;
use tiny_skia::{FillRule, Paint, PathBuilder, Pixmap, Rect, Shader, Transform};

/// An sRGB colour with the name captions use for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Named {
    pub name: &'static str,
    pub rgb: [u8; 3],
}

pub const fn named(name: &'static str, r: u8, g: u8, b: u8) -> Named {
    Named {
        name,
        rgb: [r, g, b],
    }
}

/// Object colours.
pub const OBJECT: &[Named] = &[
    named("red", 214, 40, 40),
    named("orange", 240, 140, 30),
    named("yellow", 245, 215, 50),
    named("pink", 240, 130, 180),
    named("purple", 140, 70, 180),
    named("blue", 50, 100, 220),
    named("white", 245, 245, 240),
    named("magenta", 210, 50, 160),
    named("teal", 30, 150, 150),
    named("crimson", 170, 20, 50),
];

/// Background colours.
pub const BACKGROUND: &[Named] = &[
    named("light blue", 170, 205, 235),
    named("dark green", 30, 70, 40),
    named("beige", 225, 210, 180),
    named("grey", 128, 128, 128),
    named("black", 15, 15, 18),
    named("cream", 245, 238, 215),
    named("lavender", 200, 190, 230),
    named("dark blue", 20, 30, 80),
    // A plain mid blue, so that "against a blue background" (the prompt users type first) is a
    // colour the captions name; blue objects never land on it (`clip_spec` keeps the object at
    // least 80 RGB units from its background).
    named("blue", 50, 90, 190),
];

pub fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

pub fn mix(a: [u8; 3], b: [u8; 3], t: f32) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    [0, 1, 2].map(|i| lerp(f32::from(a[i]), f32::from(b[i]), t).round() as u8)
}

/// Scale each channel by `f` (darken < 1 < brighten), saturating.
pub fn shade(c: [u8; 3], f: f32) -> [u8; 3] {
    c.map(|v| (f32::from(v) * f).round().clamp(0.0, 255.0) as u8)
}

/// The drawing surface: a pixmap, its size, and the camera transform for this frame.
pub struct Canvas {
    pub pixmap: Pixmap,
    w: f32,
    h: f32,
    camera: Transform,
}

impl Canvas {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            pixmap: Pixmap::new(width, height).expect("non-zero canvas size"),
            w: width as f32,
            h: height as f32,
            camera: Transform::identity(),
        }
    }

    /// Camera: zoom `scale` about the centre, then shift by (dx, dy) in normalised units.
    pub fn set_camera(&mut self, scale: f32, dx: f32, dy: f32) {
        let (cx, cy) = (self.w / 2.0, self.h / 2.0);
        self.camera = Transform::from_translate(cx + dx * self.w, cy + dy * self.h)
            .pre_scale(scale, scale)
            .pre_translate(-cx, -cy)
            .pre_scale(self.w, self.h);
    }

    fn paint(c: [u8; 3], alpha: f32) -> Paint<'static> {
        let mut p = Paint::default();
        p.set_color_rgba8(
            c[0],
            c[1],
            c[2],
            (alpha.clamp(0.0, 1.0) * 255.0).round() as u8,
        );
        p.anti_alias = true;
        p
    }

    /// Fill the whole frame (not moved by the camera) with a vertical gradient.
    pub fn background(&mut self, top: [u8; 3], bottom: [u8; 3]) {
        let rect = Rect::from_xywh(0.0, 0.0, self.w, self.h).expect("rect");
        let mut p = Paint::default();
        if top == bottom {
            p.set_color_rgba8(top[0], top[1], top[2], 255);
        } else {
            let stops = vec![
                tiny_skia::GradientStop::new(
                    0.0,
                    tiny_skia::Color::from_rgba8(top[0], top[1], top[2], 255),
                ),
                tiny_skia::GradientStop::new(
                    1.0,
                    tiny_skia::Color::from_rgba8(bottom[0], bottom[1], bottom[2], 255),
                ),
            ];
            p.shader = tiny_skia::LinearGradient::new(
                tiny_skia::Point::from_xy(0.0, 0.0),
                tiny_skia::Point::from_xy(0.0, self.h),
                stops,
                tiny_skia::SpreadMode::Pad,
                Transform::identity(),
            )
            .unwrap_or(Shader::SolidColor(tiny_skia::Color::BLACK));
        }
        self.pixmap.fill_rect(rect, &p, Transform::identity(), None);
    }

    fn fill(&mut self, path: Option<tiny_skia::Path>, c: [u8; 3], alpha: f32, local: Transform) {
        if let Some(path) = path {
            let t = self.camera.pre_concat(local);
            self.pixmap
                .fill_path(&path, &Self::paint(c, alpha), FillRule::Winding, t, None);
        }
    }

    pub fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, c: [u8; 3], alpha: f32) {
        if w > 0.0 && h > 0.0 {
            let path = Rect::from_xywh(x, y, w, h).map(PathBuilder::from_rect);
            self.fill(path, c, alpha, Transform::identity());
        }
    }

    pub fn circle(&mut self, cx: f32, cy: f32, r: f32, c: [u8; 3], alpha: f32) {
        if r > 0.0 {
            self.fill(
                PathBuilder::from_circle(cx, cy, r),
                c,
                alpha,
                Transform::identity(),
            );
        }
    }

    /// An ellipse with radii (rx, ry), rotated by `angle` radians about its centre.
    #[allow(clippy::too_many_arguments)]
    pub fn ellipse(
        &mut self,
        cx: f32,
        cy: f32,
        rx: f32,
        ry: f32,
        angle: f32,
        c: [u8; 3],
        alpha: f32,
    ) {
        if rx > 0.0 && ry > 0.0 {
            let path =
                Rect::from_xywh(-rx, -ry, 2.0 * rx, 2.0 * ry).and_then(PathBuilder::from_oval);
            let local = Transform::from_translate(cx, cy).pre_rotate(angle.to_degrees());
            self.fill(path, c, alpha, local);
        }
    }

    pub fn polygon(&mut self, pts: &[(f32, f32)], c: [u8; 3], alpha: f32) {
        if pts.len() < 3 {
            return;
        }
        let mut pb = PathBuilder::new();
        pb.move_to(pts[0].0, pts[0].1);
        for &(x, y) in &pts[1..] {
            pb.line_to(x, y);
        }
        pb.close();
        self.fill(pb.finish(), c, alpha, Transform::identity());
    }

    /// A thick line segment.
    pub fn line(&mut self, a: (f32, f32), b: (f32, f32), width: f32, c: [u8; 3]) {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len = (dx * dx + dy * dy).sqrt();
        if len <= 0.0 {
            return;
        }
        let (nx, ny) = (-dy / len * width / 2.0, dx / len * width / 2.0);
        self.polygon(
            &[
                (a.0 + nx, a.1 + ny),
                (b.0 + nx, b.1 + ny),
                (b.0 - nx, b.1 - ny),
                (a.0 - nx, a.1 - ny),
            ],
            c,
            1.0,
        );
    }

    /// The frame as RGB u8 (the background is opaque, so premultiplication is a no-op).
    pub fn to_rgb(&self) -> RgbImage {
        let data: Vec<u8> = self
            .pixmap
            .data()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        RgbImage::from_raw(self.pixmap.width(), self.pixmap.height(), data).expect("rgb size")
    }
}
