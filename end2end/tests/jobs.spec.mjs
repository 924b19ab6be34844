import { test, expect } from '@playwright/test';

/** Logs in as the researcher and waits for the Jobs page's island to hydrate. */
async function researcherOnJobsPage(page) {
  await page.goto('/login?next=/jobs');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
  await page.getByLabel('E-mail').fill('researcher@e2e.test');
  await page.getByLabel('Password').fill('research-pass-123');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(/\/jobs$/);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
}

test('a researcher trains a small model from the Jobs page', async ({ page }) => {
  await researcherOnJobsPage(page);
  await page.getByText('Train a model on ChronoMagic-Synth').click();
  const form = page.getByTestId('train-form');
  await expect(form.getByLabel('Stage', { exact: true })).toHaveValue('all');
  await expect(form.getByLabel('Preset')).toHaveValue('s32');
  await form.getByLabel('Clips').fill('4');
  await form.getByLabel('VAE steps').fill('1');
  await form.getByLabel('UNet steps').fill('1');
  await form.getByLabel('Time budget (min)').fill('2');
  await page.getByRole('button', { name: 'Train' }).click();
  await expect(form.getByRole('status')).toContainText('Queued job #');
  const job = page.locator('li.job', { hasText: 'train' }).first();
  await expect(job).toHaveAttribute('data-status', 'done', { timeout: 90_000 });
  await expect(job).toContainText(/trained in \d+ s: .* weights in models\/\d+/);
  // the loss curve of its loops (vae, unet, motion, adapter_s, adapter_t)
  await expect(job.getByTestId('loss-curve').locator('polyline')).toHaveCount(5);
});

test('a researcher queues an evaluation; bad paths are refused and a failed job says why', async ({ page }) => {
  // an empty set in the server's data dir (run.sh exports its path): the in-domain CLIP loads, the set is too small
  const fs = await import('node:fs');
  fs.mkdirSync(`${process.env.MAGICTIME_E2E_DATA}/evalset`, { recursive: true });
  await researcherOnJobsPage(page);
  await page.getByText('Evaluate videos').click();
  const form = page.getByTestId('eval-form');
  await form.getByLabel('Generated videos (folder or manifest)').fill('no/such/set');
  await form.getByLabel('Metrics').fill('clipsim');
  await form.getByLabel('Videos per set').fill('2');
  await page.getByRole('button', { name: 'Evaluate' }).click();
  await expect(form.getByRole('status')).toContainText('does not exist');
  await form.getByLabel('Generated videos (folder or manifest)').fill('evalset');
  await page.getByRole('button', { name: 'Evaluate' }).click();
  await expect(form.getByRole('status')).toContainText('Queued job #');
  const job = page.locator('li.job', { hasText: 'eval' }).first();
  await expect(job).toHaveAttribute('data-status', 'failed', { timeout: 30_000 });
  await expect(job).toContainText('the fake set needs at least 2 samples, got 0');
});
