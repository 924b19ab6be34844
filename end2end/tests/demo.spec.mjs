import { test, expect } from '@playwright/test';

// run.sh serves with MAGICTIME_DEMO_PER_HOUR=2: a visitor's third generation within the hour is
// refused.

/** Logs in as `email` in `page` and waits for the next page's islands. */
async function logIn(page, email, password, next) {
  await page.goto(`/login?next=${next}`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('who')).toContainText(email);
  await expect(page).toHaveURL(new RegExp(`${next}$`));
}

test('an anonymous visitor generates in the public demo until its limit says so', async ({ page, browser }) => {
  // a researcher's generation, which the visitor must never see
  await logIn(page, 'researcher@e2e.test', 'research-pass-123', '/generate');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
  await page.getByLabel('Prompt', { exact: true }).fill('a researcher only sunflower');
  await page.getByLabel('Steps').fill('1');
  await page.getByLabel('Frames').fill('2');
  await page.getByLabel('Size (px)').fill('16');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(page.getByRole('status')).toContainText('Queued job #');

  // anonymous, with the demo off: no form
  const visitor = await (await browser.newContext()).newPage();
  await visitor.goto('/generate');
  await expect(visitor.getByText('This page needs the researcher role')).toBeVisible();

  // the admin turns the demo on
  await page.getByRole('button', { name: 'Log out' }).click();
  await logIn(page, 'admin@e2e.test', 'admin-pass-123', '/admin');
  await expect(page.getByTestId('demo-state')).toHaveText('The public demo is off.');
  await page.getByTestId('demo-toggle').click();
  await expect(page.getByTestId('demo-state')).toHaveText('The public demo is on.');

  // the visitor: the demo's ceiling in the form, generations until the limit
  await visitor.goto('/generate');
  await expect(visitor.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
  await expect(visitor.getByTestId('demo-notice')).toContainText('Public demo');
  await expect(visitor.getByLabel('Size (px)')).toHaveAttribute('max', '64');
  await visitor.getByLabel('Size (px)').fill('128');
  await expect(visitor.getByTestId('size-error')).not.toBeEmpty();
  await visitor.getByLabel('Size (px)').fill('32');
  await visitor.getByLabel('Steps').fill('2');
  await visitor.getByLabel('Frames').fill('4');
  for (const n of [1, 2]) {
    await visitor.getByLabel('Prompt', { exact: true }).fill(`a visitor's poppy ${n}`);
    await visitor.getByRole('button', { name: 'Generate' }).click();
    await expect(visitor.getByRole('status')).toContainText('Queued job #');
    const job = visitor.locator('li.job', { hasText: `a visitor's poppy ${n}` }).first();
    await expect(job).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
    await expect(job.locator('video')).toHaveAttribute('src', /\/media\/generated\/\d+\.mp4$/);
  }
  await visitor.getByLabel('Prompt', { exact: true }).fill("a visitor's poppy 3");
  await visitor.getByRole('button', { name: 'Generate' }).click();
  await expect(visitor.getByRole('status')).toHaveText(
    'The public demo allows 2 generations per hour per visitor; please try again later');
  // their own gallery: their two, never the researcher's
  await expect(visitor.locator('li.job')).toHaveCount(2);
  await visitor.goto('/gallery');
  await expect(visitor.locator('ul.gallery li')).toHaveCount(2);
  await expect(visitor.locator('main')).not.toContainText('sunflower');
  await page.goto('/gallery');
  await expect(page.locator('main')).toContainText('sunflower');
});
