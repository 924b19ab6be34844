//! [`VideoScorer`] implemented with the metrics crate: CLIPSIM and the metamorphic score
//! (`magictime_metrics::clipsim`) over a CLIP embedder (`magictime_metrics::clip_embedder`),
//! chosen like `magictime eval --clip`: a transformers CLIP folder, or `tiny-random` (the model
//! crate's tiny CLIP with random weights: smoke runs only). Loaded once, on first use.
use std::{
    path::PathBuf,
    sync::{Mutex, OnceLock},
};

use magictime_app::ssr::scorer::{VideoScore, VideoScorer};
use magictime_metrics::{
    clip_embedder::ClipEmbedder,
    clipsim::{score_video, RetrievalTexts, VideoTextEmbedder},
    eval::decode,
    features::Cpu,
};

pub struct ClipScorer {
    setting: Option<PathBuf>,
    loaded: OnceLock<Result<Mutex<ClipEmbedder<Cpu>>, String>>,
}

impl ClipScorer {
    pub fn new(setting: Option<PathBuf>) -> Self {
        Self {
            setting,
            loaded: OnceLock::new(),
        }
    }

    fn embedder(&self) -> Result<&Mutex<ClipEmbedder<Cpu>>, String> {
        self.available()?;
        let setting = self.setting.as_ref().expect("checked by available()");
        self.loaded
            .get_or_init(|| {
                ClipEmbedder::from_setting(setting, &Default::default())
                    .map(Mutex::new)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl VideoScorer for ClipScorer {
    fn available(&self) -> Result<(), String> {
        match &self.setting {
            Some(_) => Ok(()),
            None => Err(
                "the server was started with --clip none: start `magictime serve` \
                         without it (the in-domain CLIP trained on ChronoMagic-Synth) or with \
                         --clip <transformers CLIP folder> (MAGICTIME_CLIP)"
                    .into(),
            ),
        }
    }

    fn score(&self, videos: &[(PathBuf, String)]) -> Result<(String, Vec<VideoScore>), String> {
        let e = self.embedder()?.lock().unwrap_or_else(|p| p.into_inner());
        let texts = RetrievalTexts::new(&*e).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(videos.len());
        for (path, prompt) in videos {
            let clip = decode(path).map_err(|e| e.to_string())?;
            let frames: Vec<&[u8]> = (0..clip.n).map(|i| clip.frame(i)).collect();
            let s = score_video(&*e, &frames, clip.h, clip.w, prompt, &texts)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            out.push(VideoScore {
                clipsim: s.clipsim,
                metamorphic: s.metamorphic,
            });
        }
        Ok((e.name(), out))
    }
}
