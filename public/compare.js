// The compare page (app/src/pages/compare.rs): every video plays from one clock, each at the
// same fraction of its own length, so videos of different lengths start and end together.
(() => {
  const videos = [...document.querySelectorAll('#compare-grid video')];
  const play = document.getElementById('compare-play');
  const restart = document.getElementById('compare-restart');
  const seek = document.getElementById('compare-seek');
  if (!videos.length || !play) return;
  const lead = videos.reduce((a, b) => ((b.duration || 0) > (a.duration || 0) ? b : a));
  const fraction = () => (lead.duration ? lead.currentTime / lead.duration : 0);
  // the followers go where the lead is (a drift over 1/20 of a video is corrected)
  const follow = (force) => {
    const f = fraction();
    for (const v of videos) {
      if (v === lead || !v.duration) continue;
      const want = f * v.duration;
      if (force || Math.abs(v.currentTime - want) > v.duration / 20) v.currentTime = want;
    }
    seek.value = Math.round(f * 1000);
  };
  const playing = () => !lead.paused;
  const setPlaying = (on) => {
    for (const v of videos) {
      v.playbackRate = lead.duration && v.duration ? v.duration / lead.duration : 1;
      if (on) v.play(); else v.pause();
    }
    play.textContent = on ? 'Pause all' : 'Play all';
    document.body.dataset.comparePlaying = on ? 'true' : 'false';
  };
  play.addEventListener('click', () => setPlaying(!playing()));
  restart.addEventListener('click', () => {
    for (const v of videos) v.currentTime = 0;
    follow(true);
  });
  seek.addEventListener('input', () => {
    for (const v of videos) if (v.duration) v.currentTime = (seek.value / 1000) * v.duration;
  });
  lead.addEventListener('timeupdate', () => follow(false));
  lead.addEventListener('seeked', () => follow(true));
})();
