import { test, expect } from '@playwright/test';

/** Logs in as the researcher and waits for the Generate page's island to hydrate. */
async function researcherOnGeneratePage(page) {
  await page.goto('/login?next=/generate');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
  await page.getByLabel('E-mail').fill('researcher@e2e.test');
  await page.getByLabel('Password').fill('research-pass-123');
  await page.getByRole('button', { name: 'Log in' }).click();
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
