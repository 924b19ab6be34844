// The participant's side of a study (no WASM, no login): consent, optional demographics,
// instructions, trials with
// synchronised looping playback, keyboard answers, each answer saved before moving on, resume
// from localStorage, completion code and redirect. Only opaque media ids reach this page.
(function () {
  'use strict';
  const root = document.getElementById('study');
  const slug = root.dataset.slug;
  const key = 'mt_study_' + slug;
  const $ = (sel) => root.querySelector(sel);
  const csrf = () => (document.cookie.split(';').map((c) => c.trim().split('='))
    .find(([k]) => k === '__Host-mt_csrf' || k === 'mt_csrf') || [])[1] || '';
  let state = null;
  let token = localStorage.getItem(key) || '';

  async function post(url, body) {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf() },
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await r.json(); } catch (_) { /* empty */ }
    return { ok: r.ok, status: r.status, data };
  }

  function show(id) {
    root.querySelectorAll('section').forEach((s) => { s.hidden = s.id !== id; });
    const h = root.querySelector('#' + id + ' h2');
    if (h) h.focus();
  }

  function fail(msg) {
    $('#error-text').textContent = msg;
    show('s-error');
  }

  async function join() {
    const q = new URLSearchParams(location.search);
    const body = { token };
    for (const k of ['PROLIFIC_PID', 'STUDY_ID', 'SESSION_ID']) if (q.get(k)) body[k] = q.get(k);
    const r = await post('/s/' + slug + '/join', body);
    if (!r.ok) return fail(r.data.error || 'This study is not available.');
    token = r.data.token;
    localStorage.setItem(key, token);
    state = r.data;
    if (state.completed) return finish();
    const started = state.trials.some((t) => t.answered.length > 0);
    if (started) return next();
    show('s-consent');
  }

  // ---- optional demographics: after consent, before the instructions ----
  function demographics() {
    if (!state.demographics.length || state.demographics_done) return show('s-instructions');
    const form = $('#demo-form');
    form.innerHTML = '';
    state.demographics.forEach((q, i) => {
      const fs = document.createElement('fieldset');
      const lg = document.createElement('legend');
      lg.textContent = q.text + (q.required ? ' *' : '');
      fs.append(lg);
      q.choices.forEach((c, k) => {
        const l = document.createElement('label');
        const r = document.createElement('input');
        r.type = 'radio'; r.name = 'q' + i; r.value = c; r.id = 'q' + i + '-' + k;
        l.append(r, ' ' + c);
        fs.append(l);
      });
      form.append(fs);
    });
    show('s-demographics');
  }

  $('#demo-next').addEventListener('click', async () => {
    const answers = {};
    state.demographics.forEach((q, i) => {
      const r = root.querySelector('input[name="q' + i + '"]:checked');
      if (r) answers[q.name] = r.value;
    });
    const r = await post('/s/' + slug + '/demographics', { token, answers });
    if (r.ok || r.status === 409) { state.demographics_done = true; show('s-instructions'); }
    else $('#demo-error').textContent = r.data.error || 'Could not save your answers.';
  });

  $('#consent-yes').addEventListener('click', () => demographics());
  $('#start').addEventListener('click', () => next());

  // ---- trials ----
  let trial = null, qi = 0, shownAt = 0, ended = [], timer = null;

  function pending() {
    return state.trials.findIndex((t) => t.questions.some((q) => !t.answered.includes(q.criterion)));
  }

  function next() {
    const i = pending();
    if (i < 0) return finish();
    trial = state.trials[i];
    qi = trial.questions.findIndex((q) => !trial.answered.includes(q.criterion));
    const main = state.trials.filter((t) => !t.practice);
    const done = main.filter((t) => t.questions.every((q) => t.answered.includes(q.criterion))).length;
    $('#progress').max = main.length;
    $('#progress').value = done;
    $('#progress-text').textContent = trial.practice ? 'Practice trial'
      : 'Trial ' + (done + 1) + ' of ' + main.length;
    $('#prompt').textContent = trial.prompt;
    const box = $('#videos');
    box.innerHTML = '';
    box.dataset.n = trial.media.length;
    ended = trial.media.map(() => false);
    trial.media.forEach((src, k) => {
      const fig = document.createElement('figure');
      const v = document.createElement('video');
      v.src = src; v.muted = true; v.playsInline = true; v.preload = 'auto';
      v.setAttribute('aria-label', 'Video ' + (k + 1));
      v.addEventListener('ended', () => { ended[k] = true; if (ended.every(Boolean) || allStopped()) restart(); refresh(); });
      const cap = document.createElement('figcaption');
      cap.textContent = 'Video ' + (k + 1);
      fig.append(v, cap);
      box.append(fig);
    });
    shownAt = performance.now();
    show('s-trial');
    restart();
    renderQuestion();
    clearInterval(timer);
    timer = setInterval(refresh, 200);
  }

  function videos() { return Array.from(root.querySelectorAll('#videos video')); }
  function allStopped() { return videos().every((v) => v.ended || v.paused); }

  // Synchronised loop: every video restarts together once all have ended.
  function restart() {
    videos().forEach((v) => { v.currentTime = 0; });
    videos().forEach((v) => { const p = v.play(); if (p) p.catch(() => {}); });
  }
  $('#replay').addEventListener('click', restart);

  function ready() {
    const viewed = !state.require_full_view || ended.every(Boolean);
    const waited = performance.now() - shownAt >= state.min_time_ms;
    return viewed && waited;
  }

  function refresh() {
    const ok = ready();
    root.querySelectorAll('#answers button').forEach((b) => { b.disabled = !ok; });
    $('#wait').hidden = ok;
  }

  function renderQuestion() {
    const q = trial.questions[qi];
    $('#question').textContent = q.text;
    const box = $('#answers');
    box.innerHTML = '';
    const add = (label, choice, hint) => {
      const b = document.createElement('button');
      b.type = 'button'; b.textContent = label; b.dataset.choice = choice;
      if (hint) b.title = hint;
      b.addEventListener('click', () => answer(choice));
      box.append(b);
    };
    if (state.kind === 'rating') {
      for (let r = 1; r <= 5; r++) add(String(r), r, 'key ' + r);
    } else {
      trial.media.forEach((_, k) => add('Video ' + (k + 1), k, 'key ' + (k + 1)));
      if (state.allow_tie) add('No difference', -1, 'key T or ↓');
    }
    refresh();
  }

  let sending = false;
  async function answer(choice) {
    if (sending || !ready() || !trial) return;
    sending = true;
    const q = trial.questions[qi];
    const r = await post('/s/api/answer', {
      token, trial: trial.id, criterion: q.criterion, choice,
      rt_ms: Math.round(performance.now() - shownAt), viewed: ended.every(Boolean),
    });
    sending = false;
    if (r.data.closed) { clearInterval(timer); fail(r.data.error); return; }
    if (r.ok || r.status === 409) {
      trial.answered.push(q.criterion);
      const total = state.trials.reduce((n, t) => n + t.answered.length, 0);
      $('#saved').textContent = 'Saved ' + total + (total === 1 ? ' answer.' : ' answers.');
      qi = trial.questions.findIndex((x) => !trial.answered.includes(x.criterion));
      if (qi < 0) { clearInterval(timer); next(); } else renderQuestion();
    } else {
      $('#saved').textContent = (r.data.error || 'Could not save') + (r.status === 429 ? ' — slow down a little.' : '');
    }
  }

  document.addEventListener('keydown', (e) => {
    if (!trial || root.querySelector('#s-trial').hidden || e.altKey || e.ctrlKey || e.metaKey) return;
    const n = trial.media.length;
    let c = null;
    if (/^[1-9]$/.test(e.key)) {
      const d = Number(e.key);
      c = state.kind === 'rating' ? (d <= 5 ? d : null) : (d <= n ? d - 1 : null);
    } else if (state.kind !== 'rating' && n === 2 && e.key === 'ArrowLeft') c = 0;
    else if (state.kind !== 'rating' && n === 2 && e.key === 'ArrowRight') c = 1;
    else if (state.allow_tie && state.kind !== 'rating' && (e.key === 't' || e.key === 'T' || e.key === 'ArrowDown')) c = -1;
    else if (e.key === 'r' || e.key === 'R') { restart(); return; }
    if (c !== null) { e.preventDefault(); answer(c); }
  });

  async function finish() {
    clearInterval(timer);
    const r = await post('/s/' + slug + '/complete', { token });
    if (!r.ok) return fail(r.data.error || 'Could not finish.');
    $('#code').textContent = r.data.completion_code;
    show('s-done');
    if (r.data.redirect) {
      const a = $('#redirect');
      a.href = r.data.redirect; a.hidden = false;
      setTimeout(() => { location.href = r.data.redirect; }, 4000);
    }
  }

  join().catch((e) => fail(String(e)));
})();
