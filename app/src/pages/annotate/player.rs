//! A player for time-lapse clips: play/pause, frame step, speed 0.1×–4×, loop, the keyframe
//! strip (click to jump), and the first and last frames side by side.
use leptos::{html::Video, prelude::*};

pub const SPEEDS: [f64; 7] = [0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0];

/// Play or pause.
pub fn toggle(video: NodeRef<Video>) {
    #[cfg(feature = "hydrate")]
    if let Some(v) = video.get_untracked() {
        if v.paused() {
            let _ = v.play();
        } else {
            v.pause().ok();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = video;
}

/// Pauses and moves `delta` frames.
pub fn step(video: NodeRef<Video>, fps: f64, delta: f64) {
    #[cfg(feature = "hydrate")]
    if let Some(v) = video.get_untracked() {
        v.pause().ok();
        let t = (v.current_time() + delta / fps).max(0.0);
        let d = v.duration();
        v.set_current_time(if d.is_finite() { t.min(d) } else { t });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (video, fps, delta);
}

/// Pauses on frame `frame` (aiming at its middle so rounding lands on it).
pub fn seek_frame(video: NodeRef<Video>, fps: f64, frame: i64) {
    #[cfg(feature = "hydrate")]
    if let Some(v) = video.get_untracked() {
        v.pause().ok();
        v.set_current_time((frame as f64 + 0.5) / fps);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (video, fps, frame);
}

fn set_rate(video: NodeRef<Video>, rate: f64) {
    #[cfg(feature = "hydrate")]
    if let Some(v) = video.get_untracked() {
        v.set_playback_rate(rate);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (video, rate);
}

fn current_frame(video: NodeRef<Video>, fps: f64) -> Option<i64> {
    #[cfg(feature = "hydrate")]
    return video
        .get_untracked()
        .map(|v| (v.current_time() * fps).floor() as i64);
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (video, fps);
        None
    }
}

#[component]
pub fn Player(item_id: i64, fps: f64, keyframes: Vec<i64>, video: NodeRef<Video>) -> impl IntoView {
    let (speed, set_speed) = signal(1.0f64);
    let (looping, set_looping) = signal(true);
    let (frame, set_frame) = signal(0i64);
    let (playing, set_playing) = signal(false);
    let apply_speed = move || set_rate(video, speed.get_untracked());
    let kf = |k: usize| format!("/annotate/media/{item_id}/keyframe/{k}");
    let last = keyframes.len().saturating_sub(1);
    view! {
        <section class="player" aria-label="Clip player">
            <video
                node_ref=video
                src=format!("/annotate/media/{item_id}/clip")
                preload="auto"
                muted
                playsinline
                loop=move || looping.get()
                on:loadedmetadata=move |_| apply_speed()
                on:timeupdate=move |_| if let Some(f) = current_frame(video, fps) {
                    set_frame.set(f);
                }
                on:play=move |_| set_playing.set(true)
                on:pause=move |_| set_playing.set(false)
            ></video>
            <div class="controls">
                <button type="button" on:click=move |_| toggle(video)
                    aria-label=move || if playing.get() { "Pause" } else { "Play" }>
                    {move || if playing.get() { "❚❚ Pause" } else { "▶ Play" }}
                </button>
                <button type="button" on:click=move |_| step(video, fps, -1.0) aria-label="Previous frame">"◀ frame"</button>
                <button type="button" on:click=move |_| step(video, fps, 1.0) aria-label="Next frame">"frame ▶"</button>
                <label>"Speed "
                    <select on:change=move |ev| {
                        if let Ok(s) = event_target_value(&ev).parse::<f64>() {
                            set_speed.set(s);
                            apply_speed();
                        }
                    }>
                        {SPEEDS.into_iter().map(|s| view! {
                            <option value=s.to_string() selected=s == 1.0>{format!("{s}×")}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label><input type="checkbox" prop:checked=looping
                    on:change=move |ev| set_looping.set(event_target_checked(&ev))/>" Loop"</label>
                <span class="frame" aria-live="off">"frame " {frame}</span>
            </div>
            <ol class="strip" aria-label="Keyframes: click to jump">
                {keyframes.iter().enumerate().map(|(k, &f)| view! {
                    <li><button type="button" class="kf" on:click=move |_| seek_frame(video, fps, f)
                        title=format!("Jump to frame {f}")>
                        <img src=kf(k) alt=format!("Keyframe {} (frame {f})", k + 1) loading="lazy"/>
                    </button></li>
                }).collect_view()}
            </ol>
            <div class="firstlast">
                <figure><img src=kf(0) alt="First frame"/><figcaption>"First frame"</figcaption></figure>
                <figure><img src=kf(last) alt="Last frame"/><figcaption>"Last frame"</figcaption></figure>
            </div>
        </section>
    }
}
