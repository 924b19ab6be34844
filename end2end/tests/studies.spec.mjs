import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

// Waits until the WASM bundle has hydrated the page (the nav's effect marks <body>).
async function hydrated(page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
}

// Tiny videos (1 s, 8 fps) of three conditions × two prompts inside the server's data dir.
function makeVideos() {
  const root = path.join(process.env.MAGICTIME_E2E_DATA, 'e2e-import');
  const colours = { ModelRed: 'red', ModelGreen: 'green', ModelBlue: 'blue' };
  for (const [cond, c] of Object.entries(colours)) {
    mkdirSync(path.join(root, cond), { recursive: true });
    for (const prompt of ['a_seed_sprouting', 'bread_baking']) {
      execFileSync('ffmpeg', ['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', `color=c=${c}:s=64x64:r=8:d=1`,
        '-pix_fmt', 'yuv420p', path.join(root, cond, `${prompt}.mp4`)]);
    }
  }
  return root;
}

test('a participant completes a small study; the researcher sees results and downloads the CSV', async ({ page, browser }) => {
  test.setTimeout(120_000);
  const folder = makeVideos();

  // Researcher: log in, create the study from the Studies page.
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('E-mail').fill('researcher@e2e.test');
  await page.getByLabel('Password').fill('research-pass-123');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('who')).toContainText('researcher@e2e.test');
  await page.goto('/studies');
  await hydrated(page);
  await page.getByLabel('Title').fill('E2E colours');
  await page.getByLabel('Design').selectOption('pairwise');
  await page.getByLabel('Trials per participant').fill('2');
  await page.getByRole('button', { name: 'Create study' }).click();
  await expect(page.locator('h1')).toHaveText('E2E colours');
  await expect(page.getByTestId('status')).toHaveText('draft');

  // Design: small videos, no gold trials, short minimum time, the optional demographics block;
  // then import and go live.
  await page.getByLabel('Gold trials', { exact: true }).fill('0');
  await page.getByLabel('Ask demographic questions after consent').check();
  await page.getByLabel('Minimum time per trial (ms)').fill('500');
  await page.locator('input[name=width]').fill('64');
  await page.locator('input[name=height]').fill('64');
  await page.getByRole('button', { name: 'Save design' }).click();
  await page.getByLabel(/Import from a server folder/).fill(folder);
  await page.getByRole('button', { name: 'Import and normalise' }).click();
  await expect(page.getByRole('heading', { name: 'Stimuli (6)' })).toBeVisible();
  await page.getByRole('button', { name: 'Go live' }).click();
  await expect(page.getByTestId('status')).toHaveText('live');
  const link = await page.getByTestId('link').getAttribute('href');

  // Participant: a fresh browser context (no account), arriving from Prolific.
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  // Every body the participant's browser receives, as a promise awaited before the check below
  // (a handler that awaited the body itself could still be running when the check ran).
  const bodies = [];
  p.on('response', (r) => {
    if (r.url().includes('/s/')) bodies.push(r.text().catch(() => null)); // null: unreadable
  });
  await p.goto(`${link}?PROLIFIC_PID=e2e-pid-1&STUDY_ID=s1&SESSION_ID=x1`);
  await p.getByRole('button', { name: 'I agree and want to take part' }).click();
  // Demographics: optional questions; answer one, skip the others.
  await expect(p.getByRole('heading', { name: 'About you' })).toBeVisible();
  await p.getByLabel('25–34').check();
  await p.getByRole('button', { name: 'Continue' }).click();
  await p.getByRole('button', { name: 'Start' }).click();

  // practice + 2 main + 1 attention check; 4 questions per normal trial.
  let answered = 0;
  while (answered < 13) {
    const buttons = p.locator('#answers button');
    await expect(buttons.first()).toBeEnabled({ timeout: 15_000 }); // each video played to its end
    const q = await p.locator('#question').textContent();
    const m = /choose video (\d)/.exec(q);
    await p.keyboard.press(m ? m[1] : (answered % 2 ? 'ArrowRight' : '1'));
    answered++;
    await expect(p.locator('#saved')).toHaveText(`Saved ${answered} answer${answered === 1 ? '' : 's'}.`);
    if (answered === 5) {
      // Close the tab and come back: the study resumes where it was.
      await p.reload();
      await expect(p.locator('#progress-text')).toContainText('Trial');
    }
  }
  await expect(p.getByTestId('completion-code')).not.toBeEmpty();
  expect(answered).toBe(4 + 4 + 4 + 1);
  // Blinding: nothing the participant's browser received names a condition: the pages, the
  // study state and every answer's reply (at least one per answer) were all read.
  const seen = (await Promise.all(bodies)).filter((b) => b !== null);
  expect(seen.length).toBeGreaterThan(answered);
  for (const body of seen) expect(body).not.toMatch(/ModelRed|ModelGreen|ModelBlue/);
  await ctx.close();

  // Researcher: dashboard and results, then the CSV.
  await page.reload();
  await expect(page.getByTestId('dashboard')).toContainText('Participants: 1 · completed: 1');
  await expect(page.locator('section.criterion').first()).toContainText('ModelRed');
  await expect(page.getByTestId('demographics').locator('tr', { hasText: '25–34' })).toContainText('1');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download trials (CSV)' }).click(),
  ]);
  const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
  expect(csv[0]).toContain('participant,participant_seq');
  expect(csv.length).toBe(1 + 13);
  expect(csv.join('\n')).not.toContain('e2e-pid-1');
});
