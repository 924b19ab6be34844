import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Logs in as the researcher and waits for the Generate page's island to hydrate. */
async function researcherOnGeneratePage(page) {
  await page.goto('/login?next=/generate');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
  await page.getByLabel('E-mail').fill('researcher@e2e.test');
  await page.getByLabel('Password').fill('research-pass-123');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('who')).toContainText('researcher@e2e.test');
  await expect(page).toHaveURL(/\/generate$/);
  // The login loaded the Generate page: wait for its island before using the form.
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
}

test('a researcher queues a generation and watches it finish', async ({ page }) => {
  await researcherOnGeneratePage(page);
  await page.getByLabel('Prompt', { exact: true }).fill('ice melting on a blue table, time-lapse');
  await page.getByLabel('Steps').fill('2');
  await page.getByLabel('Frames').fill('4');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(page.getByRole('status')).toContainText('Queued job #');
  const job = page.locator('li.job').first();
  await expect(job).toContainText('ice melting on a blue table');
  // The list refreshes itself until the job is done and the video is shown.
  await expect(job).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  await expect(job.locator('video')).toHaveAttribute('src', /\/media\/generated\/\d+\.mp4$/);
});

test('a researcher cancels a running generation from the list', async ({ page }) => {
  await researcherOnGeneratePage(page);
  await page.getByLabel('Prompt', { exact: true }).fill('a building rising, time-lapse');
  await page.getByLabel('Steps').fill('100');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(page.getByRole('status')).toContainText('Queued job #');
  const job = page.locator('li.job', { hasText: 'a building rising' }).first();
  await expect(job).toHaveAttribute('data-status', 'running', { timeout: 60_000 });
  await job.getByRole('button', { name: 'Cancel' }).click();
  // the worker stops it at the next denoising step; the list shows where
  await expect(job).toHaveAttribute('data-status', 'cancelled', { timeout: 20_000 });
  await expect(job).toContainText(/cancelled after denoising step \d+\/100/);
  await expect(job.getByRole('button', { name: 'Cancel' })).toHaveCount(0);
  await expect(job.locator('video')).toHaveCount(0);
});

/** Submits the form, waits for the job of `prompt` to finish and returns it with the URL of its
 * Download link, a file of extension `ext`. */
async function generatedDownload(page, prompt, ext) {
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(page.getByRole('status')).toContainText('Queued job #');
  const job = page.locator('li.job', { hasText: prompt }).first();
  await expect(job).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  const link = job.getByRole('link', { name: 'Download' });
  await expect(link).toHaveAttribute('href', new RegExp(`^/media/generated/\\d+\\.${ext}$`));
  return [job, await link.getAttribute('href')];
}

/** The frames ffprobe decodes from `url`, downloaded with the page's session. */
async function ffprobeFrames(page, url) {
  const r = await page.request.get(url);
  expect(r.status()).toBe(200);
  const file = join(mkdtempSync(join(tmpdir(), 'magictime-e2e-dl-')), url.split('/').pop());
  writeFileSync(file, await r.body());
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0',
    '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]);
  return Number(out.toString().trim());
}

/** The frames the browser decodes from the animated image at `url` (WebCodecs' ImageDecoder:
 * Debian's ffprobe 5.1 cannot decode animated WebP). */
async function browserFrames(page, url, type) {
  return page.evaluate(async ([url, type]) => {
    const data = (await fetch(url)).body;
    const decoder = new ImageDecoder({ data, type });
    await decoder.tracks.ready;
    await decoder.completed;
    const n = decoder.tracks.selectedTrack.frameCount;
    // every frame decodes, the last one included
    await decoder.decode({ frameIndex: n - 1 });
    return n;
  }, [url, type]);
}

test('the picker offers the official release; the choices are recorded and the GIF plays', async ({ page }) => {
  await researcherOnGeneratePage(page);
  // run.sh serves the official release's tree (tiny random weights in its layout)
  await page.getByRole('link', { name: 'Official MagicTime release' }).click();
  await expect(page).toHaveURL(/\/generate\?model=official$/);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
  await expect(page.getByTestId('model')).toContainText('official MagicTime release');
  const dreambooth = page.getByLabel('DreamBooth model');
  await expect(dreambooth.locator('option')).toHaveText(['none',
    'RealisticVisionV60B1_v51VAE.safetensors', 'ToonYou_beta6.safetensors', 'rcnzCartoon3d_v10.safetensors']);
  // the release's own settings fill the form
  await expect(page.getByLabel('Size (px)')).toHaveValue('512');
  await dreambooth.selectOption('rcnzCartoon3d_v10.safetensors');
  await page.getByLabel('Magic Text-Encoder').uncheck();
  await expect(page.getByLabel('Magic Adapter S')).toBeChecked();
  await page.getByLabel('Output').selectOption('gif');
  await page.getByLabel('Prompt', { exact: true }).fill('a cartoon flower blooming, time-lapse');
  await page.getByLabel('Steps').fill('2');
  await page.getByLabel('Frames').fill('6');
  await page.getByLabel('Size (px)').fill('16');
  const [job, gif] = await generatedDownload(page, 'a cartoon flower blooming', 'gif');
  expect(await ffprobeFrames(page, gif)).toBe(6);
  expect(await browserFrames(page, gif, 'image/gif')).toBe(6);
  const id = Number((await job.getAttribute('data-testid')).replace('job-', ''));
  const listed = await (await page.request.get('/api/jobs?kind=generate')).json();
  const params = JSON.parse(listed.find((j) => j.id === id).params);
  expect(params).toMatchObject({ model: 'official', dreambooth: 'rcnzCartoon3d_v10.safetensors',
    adapters: ['s', 't'], formats: ['gif'], frames: 6, size: 16 });
});

test('more than 32 frames run in context windows; past the bound the message shows beside the field', async ({ page }) => {
  await researcherOnGeneratePage(page);
  const before = (await (await page.request.get('/api/jobs?kind=generate')).json()).length;
  await page.getByLabel('Prompt', { exact: true }).fill('a long bloom, time-lapse');
  await page.getByLabel('Steps').fill('1');
  await page.getByLabel('Size (px)').fill('512');
  await page.getByLabel('Frames').fill('33');
  // the browser's check, beside the field: the form is not sent
  await expect(page.getByTestId('frames-error')).toHaveText('33 frames at 512 px are too many: frames × size² '
    + 'is at most 8388608 (32 frames at 512 px, 128 at 256 px, 512 at 128 px)');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(page.getByRole('status')).toHaveText('');
  // a size off the 16 px grid, and no prompt: each field says why
  await page.getByLabel('Size (px)').fill('40');
  await expect(page.getByTestId('size-error')).not.toBeEmpty();
  await expect(page.getByTestId('frames-error')).toBeEmpty();
  await page.getByLabel('Prompt', { exact: true }).fill('');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(page.getByTestId('prompt-error')).not.toBeEmpty();
  await expect(page.getByRole('status')).toHaveText('');
  expect((await (await page.request.get('/api/jobs?kind=generate')).json()).length).toBe(before);
  await page.getByLabel('Prompt', { exact: true }).fill('a long bloom, time-lapse');
  await expect(page.getByTestId('prompt-error')).toBeEmpty();
  await page.getByLabel('Size (px)').fill('32');
  await page.getByLabel('Frames').fill('40');
  await page.getByLabel('Output').selectOption('webp');
  const [, webp] = await generatedDownload(page, 'a long bloom', 'webp');
  expect(await browserFrames(page, webp, 'image/webp')).toBe(40);
  // only the picker's choices exist: a forged one is refused beside the picker, nothing queued
  const queued = (await (await page.request.get('/api/jobs?kind=generate')).json()).length;
  await page.locator('input[name="model"]').evaluate((e) => { e.value = 'sd3'; });
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(page.getByTestId('choice-error')).toHaveText('Model "sd3" is unknown here (there are builtin, official)');
  await expect(page.getByRole('status')).not.toContainText('Queued');
  expect((await (await page.request.get('/api/jobs?kind=generate')).json()).length).toBe(queued);
});

test('a running generation is cancelled from its own page', async ({ page }) => {
  await researcherOnGeneratePage(page);
  await page.getByLabel('Prompt', { exact: true }).fill('a glacier retreating, time-lapse');
  await page.getByLabel('Steps').fill('100');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(page.getByRole('status')).toContainText('Queued job #');
  const job = page.locator('li.job', { hasText: 'a glacier retreating' }).first();
  await job.getByRole('link', { name: 'Details and settings' }).click();
  await expect(page).toHaveURL(/\/generations\/\d+$/);
  // the page reloads itself while the generation waits or runs
  await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'running', { timeout: 60_000 });
  await page.getByTestId('cancel').click();
  await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'cancelled', { timeout: 20_000 });
  await expect(page.getByTestId('status')).toContainText(/cancelled after denoising step \d+\/100/);
  await expect(page.getByTestId('cancel')).toHaveCount(0);
  await expect(page.getByTestId('video')).toHaveCount(0);
});

test('a generation has a permalink with every setting, its downloads play, and it generates again', async ({ page }) => {
  await researcherOnGeneratePage(page);
  await page.getByLabel('Prompt', { exact: true }).fill('a tulip opening, time-lapse');
  await page.getByLabel('Steps').fill('2');
  await page.getByLabel('Frames').fill('5');
  await page.getByLabel('Frame rate (fps)').fill('10');
  await page.getByLabel('Magic Adapter T').uncheck();
  // the dice picks another seed
  await page.getByLabel('Seed', { exact: true }).fill('42');
  await page.getByRole('button', { name: 'Random seed' }).click();
  await expect(page.getByLabel('Seed', { exact: true })).not.toHaveValue('42');
  const seed = await page.getByLabel('Seed', { exact: true }).inputValue();
  await page.getByLabel('Output').selectOption('gif');
  const [job, gif] = await generatedDownload(page, 'a tulip opening', 'gif');
  await job.getByRole('link', { name: 'Details and settings' }).click();
  await expect(page).toHaveURL(/\/generations\/\d+$/);
  const id = page.url().split('/').pop();
  const field = (k) => page.locator(`[data-field="${k}"]`);
  await expect(field('prompt')).toHaveText('a tulip opening, time-lapse');
  await expect(field('seed')).toHaveText(seed);
  await expect(field('steps')).toHaveText('2');
  await expect(field('frames')).toHaveText('5');
  await expect(field('fps')).toHaveText('10');
  await expect(field('adapters')).toHaveText('Magic Adapter S, Magic Text-Encoder');
  await expect(field('model')).toContainText('built-in');
  await expect(field('requested_by')).toHaveText('researcher@e2e.test');
  await expect(field('software')).toHaveText(/^magictime \d+\.\d+\.\d+$/);
  await expect(field('seconds')).toHaveText(/^\d+\.\d s$/);
  await expect(field('finished_at')).not.toBeEmpty();
  await expect(page.getByTestId('model-files').locator('tbody tr').first()).toContainText(/[0-9a-f]{64}/);
  await expect(page.getByTestId('video')).toHaveAttribute('src', `/media/generated/${id}.mp4`);
  // the downloads play: MP4 and GIF through ffprobe, the frames zip holds 5 PNGs, the sidecar
  // says what the page says
  const links = page.getByTestId('downloads').getByRole('link');
  await expect(links).toHaveText(['MP4', 'GIF', 'frames as PNG (zip)', 'settings and provenance (JSON)']);
  expect(await ffprobeFrames(page, `/media/generated/${id}.mp4`)).toBe(5);
  expect(await ffprobeFrames(page, gif)).toBe(5);
  const zip = await (await page.request.get(`/media/generated/${id}.zip`)).body();
  expect(zip.subarray(0, 4).toString('latin1')).toBe('PK\x03\x04');
  expect(zip.toString('latin1').split('PK\x01\x02').length - 1).toBe(5);
  const facts = await (await page.request.get(`/media/generated/${id}.json`)).json();
  expect(facts).toMatchObject({ id: Number(id), requested_by: 'researcher@e2e.test',
    params: { seed: Number(seed), fps: 10, frames: 5, adapters: ['s', 'te'] } });
  // generate again: the form comes back filled with these settings
  await page.getByRole('link', { name: 'Generate again with these settings' }).click();
  await expect(page).toHaveURL(/\/generate\?model=builtin&prompt=/);
  await expect(page.getByLabel('Prompt', { exact: true })).toHaveValue('a tulip opening, time-lapse');
  await expect(page.getByLabel('Seed', { exact: true })).toHaveValue(seed);
  await expect(page.getByLabel('Frame rate (fps)')).toHaveValue('10');
  await expect(page.getByLabel('Magic Adapter T')).not.toBeChecked();
  await expect(page.getByLabel('Magic Adapter S')).toBeChecked();
  await expect(page.getByLabel('Output')).toHaveValue('gif');
});
