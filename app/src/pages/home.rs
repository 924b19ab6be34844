use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <Title text="MagicTime — metamorphic time-lapse generation"/>
        <section class="hero">
            <h1>"MagicTime"</h1>
            <p class="lead">
                "Text to metamorphic time-lapse video: a flower blooming, ice melting, a building "
                "rising. A latent video diffusion model (an SD1.5-style UNet inflated over frames with "
                "AnimateDiff motion modules) adapted with Magic Adapters and trained on ChronoMagic."
            </p>
        </section>
        <section class="cards">
            <article>
                <h2><A href="/generate">"Generate"</A></h2>
                <p>"Queue a prompt; the job runs on the server and the video appears in the gallery."</p>
            </article>
            <article>
                <h2><A href="/studies">"Studies"</A></h2>
                <p>"Blind user studies (pairwise, best-of-k, rating) on visual quality, frame consistency, metamorphic amplitude and text alignment."</p>
            </article>
            <article>
                <h2><A href="/annotate">"Annotate"</A></h2>
                <p>"Write and review the captions of ChronoMagic clips."</p>
            </article>
            <article>
                <h2><A href="/jobs">"Jobs"</A></h2>
                <p>"Ingest, training, generation and evaluation jobs with their progress."</p>
            </article>
        </section>
    }
}
