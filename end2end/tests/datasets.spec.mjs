import { test, expect } from '@playwright/test';

test('a researcher renders a ChronoMagic-Synth dataset from the Datasets page', async ({ page }) => {
  await page.goto('/login?next=/datasets');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
  await page.getByLabel('E-mail').fill('researcher@e2e.test');
  await page.getByLabel('Password').fill('research-pass-123');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(/\/datasets$/);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
  const form = page.getByTestId('synth-form');
  await form.getByLabel('Clips').fill('2');
  await form.getByLabel('Size (px)').fill('32');
  await form.getByLabel('Frames').fill('8');
  await form.getByLabel('Kind').selectOption('metamorphic');
  await page.getByRole('button', { name: 'Render dataset' }).click();
  await expect(form.getByRole('status')).toContainText('Queued job #');
  const job = page.locator('li.job').first();
  await expect(job).toContainText('ingest');
  // The list refreshes itself until the job is done and shows its summary.
  await expect(job).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  await expect(job).toContainText('2 clips (2 metamorphic, 0 general) in datasets/');
  // A folder that is not there: the form says why and nothing is queued.
  const split = page.getByTestId('split-form');
  await split.getByLabel("Folder (relative to the server's data dir)").fill('no/such/folder');
  await page.getByRole('button', { name: 'Detect cuts and split' }).click();
  await expect(split.getByRole('status')).toContainText('does not exist');
  await expect(page.locator('li.job')).toHaveCount(1);
});
