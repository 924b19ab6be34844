import { test, expect } from '@playwright/test';

// Waits until the WASM bundle has hydrated the page's islands (the nav menu's effect marks
// <body>). Links load pages (islands: no client-side router), so wait again after each one
// before using a form that needs the WASM.
async function hydrated(page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
}

test('home renders server-side and hydrates without console errors', async ({ page }) => {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto('/');
  await expect(page.locator('h1')).toHaveText('MagicTime');
  await hydrated(page);
  expect(errors).toEqual([]);
});

test('menu toggle works only once the WASM is loaded (phone width)', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto('/');
  await hydrated(page);
  const toggle = page.getByRole('button', { name: 'Menu' });
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await expect(page.locator('#primary-nav')).toBeHidden();
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
  await expect(page.locator('#primary-nav')).toBeVisible();
});

test('log in, navigate by role, log out', async ({ page }) => {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('E-mail').fill('researcher@e2e.test');
  await page.getByLabel('Password').fill('wrong-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toContainText('wrong e-mail or password');

  await page.getByLabel('Password').fill('research-pass-123');
  await page.getByRole('button', { name: 'Show' }).click(); // hydration-only toggle
  await expect(page.getByLabel('Password')).toHaveAttribute('type', 'text');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('who')).toContainText('researcher@e2e.test (researcher)');

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Studies' }).click();
  await expect(page).toHaveURL(/\/studies$/);
  await expect(page.locator('h1')).toHaveText('Studies');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
  await expect(page.getByRole('alert')).toContainText('cannot use this page');

  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page.locator('.session').getByRole('link', { name: 'Log in' })).toBeVisible();
});

test('admin creates an account in the browser', async ({ page }) => {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('E-mail').fill('admin@e2e.test');
  await page.getByLabel('Password').fill('admin-pass-123');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('who')).toContainText('admin');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
  await expect(page).toHaveURL(/\/admin$/);
  await hydrated(page);
  await page.getByLabel('E-mail', { exact: true }).fill('new.annotator@e2e.test');
  await page.getByLabel('Initial password').fill('new-pass-123');
  await page.getByLabel('Role').selectOption('annotator');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('status')).toContainText('Created new.annotator@e2e.test (annotator)');
  await expect(page.locator('table')).toContainText('new.annotator@e2e.test');
  // Disable it and enable it again from the table.
  const row = page.getByTestId('account-new.annotator@e2e.test');
  await row.getByRole('button', { name: 'Disable' }).click();
  await expect(row).toContainText('disabled');
  await row.getByRole('button', { name: 'Enable' }).click();
  await expect(row).toContainText('active');
});

test('unknown pages answer 404 with the app layout', async ({ page }) => {
  const res = await page.goto('/no-such-page');
  expect(res.status()).toBe(404);
  await expect(page.locator('h1')).toHaveText('Page not found');
});
