//! Researcher: the server-rendered page of one study (lifecycle, participant link, results with
//! automatic metrics and demographics, stimuli, design form).
use axum::{
    extract::{Path as UrlPath, Request, State},
    response::{IntoResponse, Response},
};
use magictime_app::ssr::{
    studies::{analysis, design::DesignKind, plots, store},
    ServerState,
};

use super::{auto_metrics, demographics, esc, gallery, owned, page, Fail};

/// The researcher's page of one study: lifecycle, participant link, results (with automatic
/// metrics and demographics), stimuli, design.
pub(super) async fn manage(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    req: Request,
) -> Result<Response, Fail> {
    let headers = req.headers().clone();
    let csrf = req
        .extensions()
        .get::<magictime_app::types::CsrfToken>()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    let st = owned(&state, &headers, id).await?;
    let d = &st.design;
    let frozen = matches!(st.status.as_str(), "live" | "closed");
    let dis = if frozen { " disabled" } else { "" };
    let stimuli = store::stimulus_rows(&state.pool, id).await?;
    let a = analysis::analyse(&state.pool, &st).await?;
    let metrics = auto_metrics::view(&state, id).await?;
    let demo_counts = demographics::counts(&state, &st).await?;
    let hidden = format!(
        r#"<input type="hidden" name="csrf_token" value="{}">"#,
        esc(&csrf)
    );
    let mut b = format!(
        r#"<p><a href="/studies">← Studies</a></p><h1>{title}</h1><p>Status: <strong data-testid="status">{status}</strong> · Participant link: <a data-testid="link" href="/s/{slug}">/s/{slug}</a> (append <code>?PROLIFIC_PID=…&amp;STUDY_ID=…&amp;SESSION_ID=…</code> for Prolific)</p>"#,
        title = esc(&st.title),
        status = st.status,
        slug = st.slug
    );
    b += "<div class=\"row\">";
    for (to, label) in [
        ("pilot", "Start pilot"),
        ("draft", "Back to draft"),
        ("live", "Go live"),
        ("closed", "Close study"),
    ] {
        let ok = matches!(
            (st.status.as_str(), to),
            ("draft", "pilot")
                | ("draft", "live")
                | ("pilot", "draft")
                | ("pilot", "live")
                | ("live", "closed")
        );
        if ok {
            b += &format!(
                r#"<form method="post" action="/studies/{id}/status">{hidden}<input type="hidden" name="to" value="{to}"><button type="submit">{label}</button></form>"#
            );
        }
    }
    b += "</div>";

    // Dashboard + results.
    let db = &a.dashboard;
    b += &format!(
        r#"<h2>Results</h2><p data-testid="dashboard">Participants: {p} · completed: {c} · pilot: {pi} · excluded: {e} · answers: {n} · median time per trial: {t}</p><p><a href="/studies/{id}/export.csv" download>Download trials (CSV)</a> · <a href="/studies/{id}/export.jsonl" download>JSONL</a> · <a href="/studies/{id}/design.json" download>Design (JSON)</a> · <a href="/studies/{id}/results.json" download>Analysis (JSON)</a></p>"#,
        p = db.participants,
        c = db.completed,
        pi = db.pilot,
        e = db.excluded.len(),
        n = db.answers,
        t = db
            .median_trial_ms
            .map(|t| format!("{:.1} s", t as f64 / 1000.0))
            .unwrap_or_else(|| "–".into()),
    );
    b += &auto_metrics::section(id, &metrics, &hidden);
    b += &demographics::section(&st, &demo_counts);
    for c in &a.criteria {
        b += &format!(
            r#"<section class="criterion"><h3>{}</h3><p>{} answers · Krippendorff's α: {} · Fleiss' κ: {}</p>"#,
            esc(&c.criterion),
            c.n_answers,
            c.krippendorff_alpha
                .map(|x| format!("{x:.3}"))
                .unwrap_or_else(|| "–".into()),
            c.fleiss_kappa
                .map(|x| format!("{x:.3}"))
                .unwrap_or_else(|| "–".into())
        );
        b += r#"<table><thead><tr><th>Condition</th><th>Win rate</th><th>Wilson 95 %</th><th>Bradley–Terry</th><th>Bootstrap 95 %</th><th title="automatic, see above">CLIPSIM ×100</th><th title="automatic, see above">Metamorphic score</th></tr></thead><tbody>"#;
        for r in &c.conditions {
            let (cs, mt) = auto_metrics::of(&metrics, &r.condition)
                .map(|m| {
                    (
                        format!("{:.2}", m.clipsim_x100),
                        format!("{:.3}", m.metamorphic),
                    )
                })
                .unwrap_or_else(|| ("–".into(), "–".into()));
            b += &format!(
                "<tr><td>{}</td><td>{:.3}</td><td>[{:.3}, {:.3}]</td><td>{:.3}</td><td>[{:.3}, {:.3}]</td><td>{cs}</td><td>{mt}</td></tr>",
                esc(&r.condition), r.win_rate, r.wilson_lo, r.wilson_hi, r.bt_score, r.bt_lo, r.bt_hi
            );
        }
        b += "</tbody></table>";
        if !c.pairs.is_empty() {
            b += "<table><thead><tr><th>Pair</th><th>Wins</th><th>Ties</th><th>p (sign test)</th><th>p (Holm)</th></tr></thead><tbody>";
            for p in &c.pairs {
                b += &format!(
                    "<tr><td>{} vs {}</td><td>{} : {}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                    esc(&p.a), esc(&p.b), p.a_wins, p.b_wins, p.ties, p.p_value, p.p_holm
                );
            }
            b += "</tbody></table>";
        }
        b += &plots::win_rate_bars(c);
        b += &plots::win_matrix_heatmap(c);
        b += "</section>";
    }

    // Stimuli.
    b += &format!("<h2>Stimuli ({})</h2>", stimuli.len());
    if !frozen {
        b += &format!(
            r#"<form method="post" action="/studies/{id}/import" class="form">{hidden}<label for="import-path">Import from a server folder (<code>&lt;condition&gt;/&lt;prompt&gt;.mp4</code>) or manifest (JSONL / CSV: path, condition, prompt, degraded)</label><input id="import-path" name="path" required><button type="submit">Import and normalise</button></form>
<form id="upload" class="form" data-study="{id}"><label for="up-file">Upload videos</label><input id="up-file" type="file" accept="video/*" multiple><label for="up-cond">Condition</label><input id="up-cond" required><label for="up-prompt">Prompt</label><input id="up-prompt" required><label><input id="up-deg" type="checkbox"> degraded copy (for gold trials)</label><button type="submit">Upload</button><p id="up-status" role="status"></p></form>
<script>document.getElementById('upload').addEventListener('submit',async(e)=>{{e.preventDefault();const s=document.getElementById('up-status');const t=(document.cookie.split(';').map(c=>c.trim().split('=')).find(([k])=>k==='__Host-mt_csrf'||k==='mt_csrf')||[])[1]||'';for(const f of document.getElementById('up-file').files){{const q=new URLSearchParams({{condition:document.getElementById('up-cond').value,prompt:document.getElementById('up-prompt').value,degraded:document.getElementById('up-deg').checked,name:f.name}});s.textContent='Uploading '+f.name+'…';const r=await fetch('/studies/{id}/upload?'+q,{{method:'POST',headers:{{'x-csrf-token':t}},body:f}});if(!r.ok){{s.textContent=(await r.json()).error;return;}}}}location.reload();}});</script>"#
        );
    }
    if !frozen {
        b += &gallery::form(&state, id, &hidden).await?;
    }
    b += "<table><thead><tr><th>Prompt</th><th>Condition</th><th>Role</th><th>Frames</th><th>Format</th></tr></thead><tbody>";
    for s in &stimuli {
        b += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}×{} @ {} fps</td></tr>",
            esc(&s.prompt),
            esc(&s.condition),
            s.role,
            s.frames,
            s.width,
            s.height,
            s.fps
        );
    }
    b += "</tbody></table>";

    // Design.
    let kind = |k: &str| {
        if DesignKind::parse(k) == Some(d.kind) {
            " selected"
        } else {
            ""
        }
    };
    let chk = |on: bool| if on { " checked" } else { "" };
    let criteria: String = d
        .criteria
        .iter()
        .map(|c| format!("{} | {}\n", c.name, c.question))
        .collect();
    b += &format!(
        r#"<h2>Design</h2>{note}<form method="post" action="/studies/{id}/design" class="form design"><fieldset{dis}>{hidden}<input type="hidden" name="flags" value="1">
<label for="kind">Design</label><select id="kind" name="kind"><option value="pairwise"{p}>Pairwise (2AFC)</option><option value="best_of_k"{bk}>Best of k</option><option value="rating"{r}>Rating 1–5</option></select>
<label for="k">k (videos per trial, best-of-k)</label><input id="k" name="k" type="number" min="2" max="6" value="{k}">
<label><input type="checkbox" name="allow_tie"{tie}> Allow “no difference”</label>
<label for="criteria">Criteria (one per line: <code>name | question</code>)</label><textarea id="criteria" name="criteria" rows="5">{criteria}</textarea>
<label for="tpp">Trials per participant</label><input id="tpp" name="trials_per_participant" type="number" min="1" value="{tpp}">
<label><input type="checkbox" name="practice_trial"{pr}> Practice trial</label>
<label for="att">Attention checks</label><input id="att" name="attention_checks" type="number" min="0" max="10" value="{att}">
<label for="gold">Gold trials</label><input id="gold" name="gold_trials" type="number" min="0" max="10" value="{gold}">
<label><input type="checkbox" name="require_full_view"{fv}> Each video must play to its end before answering</label>
<label for="mint">Minimum time per trial (ms)</label><input id="mint" name="min_time_ms" type="number" min="0" value="{mint}">
<label for="maxf">Exclude participants failing more than this many checks</label><input id="maxf" name="max_failed_checks" type="number" min="0" value="{maxf}">
<label for="consent">Consent text</label><textarea id="consent" name="consent" rows="4">{consent}</textarea>
<label for="instr">Instructions</label><textarea id="instr" name="instructions" rows="4">{instr}</textarea>
{demo}
<label for="redir">Redirect URL at the end (<code>{{code}}</code> = completion code)</label><input id="redir" name="redirect_url" value="{redir}">
<label for="fps">Normalised fps / width / height</label><div class="row"><input id="fps" name="fps" value="{fps}"><input name="width" aria-label="width" value="{w}"><input name="height" aria-label="height" value="{h}"></div>
<button type="submit">Save design</button></fieldset></form><p>Completion code: <code>{code}</code> · seed {seed}</p>"#,
        note = if frozen {
            "<p class=\"note\">The study is live: its design is frozen.</p>"
        } else {
            ""
        },
        p = kind("pairwise"),
        bk = kind("best_of_k"),
        r = kind("rating"),
        k = d.k,
        tie = chk(d.allow_tie),
        criteria = esc(&criteria),
        tpp = d.trials_per_participant,
        pr = chk(d.practice_trial),
        att = d.attention_checks,
        gold = d.gold_trials,
        fv = chk(d.require_full_view),
        mint = d.min_time_ms,
        maxf = d.max_failed_checks,
        consent = esc(&d.consent),
        instr = esc(&d.instructions),
        redir = esc(d.redirect_url.as_deref().unwrap_or("")),
        fps = d.fps,
        w = d.width,
        h = d.height,
        code = esc(&d.completion_code),
        seed = d.seed,
        demo = demographics::form_fields(&d.demographics),
    );
    Ok(page(&st.title, &b).into_response())
}
