import { test, expect } from '@playwright/test';

/** Queues a generation of `prompt` through the server function, with the page's session. */
async function queue(page, prompt, seed, frames) {
  const csrf = (await page.context().cookies()).find((c) => c.name.endsWith('mt_csrf')).value;
  const r = await page.request.post('/api/generate', {
    headers: { accept: 'application/json' },
    form: { csrf_token: csrf, prompt, negative: '', seed: String(seed), steps: '2', cfg: '7.5',
      frames: String(frames), size: '32', fps: '8' },
  });
  expect(r.status()).toBe(200);
  return r.json();
}

test('two generations play side by side in sync and become a study', async ({ page }) => {
  await page.goto('/login?next=/gallery');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
  await page.getByLabel('E-mail').fill('researcher@e2e.test');
  await page.getByLabel('Password').fill('research-pass-123');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('who')).toContainText('researcher@e2e.test');
  await expect(page).toHaveURL(/\/gallery$/);
  // two lengths: 16 and 32 frames at 8 fps (2 s and 4 s)
  const a = await queue(page, 'a crocus opening, time-lapse', 1, 16);
  const b = await queue(page, 'a crocus opening, time-lapse', 2, 32);
  await expect.poll(async () => {
    const jobs = await (await page.request.get('/api/jobs?kind=generate')).json();
    return jobs.filter((j) => (j.id === a || j.id === b) && j.status === 'done').length;
  }, { timeout: 120_000 }).toBe(2);
  await page.goto('/gallery?q=crocus');
  await expect(page.getByTestId('gallery-summary')).toHaveText('2 generations, page 1 of 1');
  await page.getByTestId(`gen-${a}`).getByLabel('compare').check();
  await page.getByTestId(`gen-${b}`).getByLabel('compare').check();
  await page.getByTestId('compare').click();
  await expect(page).toHaveURL(new RegExp(`/compare\\?id=${b}&id=${a}$`));
  const videos = page.locator('#compare-grid video');
  await expect(videos).toHaveCount(2);
  await expect.poll(() => videos.evaluateAll((vs) => vs.every((v) => v.readyState >= 1))).toBe(true);
  await page.getByTestId('play').click();
  await page.waitForTimeout(1500);
  // the same fraction of each video's length, though one is twice the other
  const at = await videos.evaluateAll((vs) => vs.map((v) => [v.currentTime, v.duration, v.paused]));
  for (const [t, d, paused] of at) {
    expect(paused).toBe(false);
    expect(t).toBeGreaterThan(0);
  }
  const [fa, fb] = at.map(([t, d]) => t / d);
  expect(Math.abs(fa - fb)).toBeLessThan(0.1);
  // make a study from these: a draft pairwise study with both videos
  await page.getByLabel('Title').fill('Crocus seeds');
  await page.getByTestId('make-study').click();
  await expect(page).toHaveURL(/\/studies\/\d+$/);
  await expect(page.locator('body')).toContainText('Crocus seeds');
  const rows = page.locator('tr', { hasText: 'a crocus opening, time-lapse' });
  await expect(rows).toHaveCount(2);
  await expect(rows.nth(0)).toContainText(/\(#\d+\)/);
});
