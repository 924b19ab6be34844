// The Generate form's messages beside its fields (app/src/pages/generate.rs): the browser's own
// check of each field's bounds (min, max, step, required, maxlength), and frames × size² at most
// the server's bound (data-max-frame-pixels). An invalid field blocks the submit, so bad input
// never reaches the queue; the server checks everything again.
(() => {
  const box = document.getElementById('generate-fields');
  if (!box) return;
  const maxPixels = Number(box.dataset.maxFramePixels);
  const field = (id) => document.getElementById(id);
  const fields = ['prompt', 'negative', 'seed', 'steps', 'cfg', 'frames', 'size', 'fps']
    .map(field).filter(Boolean);
  const show = (el) => {
    const slot = field(`${el.id}-error`);
    if (slot) slot.textContent = el.validity.valid ? '' : el.validationMessage;
    el.setAttribute('aria-invalid', el.validity.valid ? 'false' : 'true');
  };
  const checkPixels = () => {
    const frames = field('frames'), size = field('size');
    const f = Number(frames.value), s = Number(size.value);
    frames.setCustomValidity(f * s * s > maxPixels
      ? `${f} frames at ${s} px are too many: frames × size² is at most ${maxPixels} (32 frames at 512 px, 128 at 256 px, 512 at 128 px)`
      : '');
    show(frames);
  };
  for (const el of fields) {
    el.addEventListener('input', () => {
      if (el.id === 'frames' || el.id === 'size') checkPixels();
      show(el);
    });
    // the browser fires `invalid` on each bad field when the form is submitted
    el.addEventListener('invalid', () => show(el));
  }
  checkPixels();
})();
