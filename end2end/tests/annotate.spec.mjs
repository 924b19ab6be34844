import { test, expect } from '@playwright/test';
import fs from 'node:fs';
import path from 'node:path';

// Caption annotation in chromium: a researcher imports a manifest, an annotator captions three
// clips with the keyboard only (Ctrl+Enter submits and opens the next item, Alt+f reaches the
// flags, Space toggles one), and a caption holding markup is shown as text.
async function hydrated(page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
}

async function login(page, email, password) {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('who')).toContainText(email);
}

test('import, then keyboard-only annotation of 3 items', async ({ page, browser }) => {
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const dir = path.join(process.env.MAGICTIME_E2E_DATA, 'datasets', 'e2e');
  fs.mkdirSync(dir, { recursive: true });
  const drafts = [
    '<img src=x onerror="window.__xss=1"> A bud opens.',
    'Ice melts into a puddle.',
    'Dough rises in a bowl.',
  ];
  fs.writeFileSync(path.join(dir, 'm.jsonl'), drafts.map((caption, i) => JSON.stringify({
    videoid: `e2e${i}`, file: `e2e${i}.mp4`, fps: 8, frames: 64, width: 64, height: 64, caption,
    provenance: { method: 'rule', inputs: ['title'], draft: true }, is_transmit: 0,
    extra: { title: `Clip ${i}`, tags: ['e2e'], description: 'test clip' },
  })).join('\n') + '\n');

  await login(page, 'researcher@e2e.test', 'research-pass-123');
  await page.goto('/annotate');
  await hydrated(page);
  await page.getByLabel('Name', { exact: true }).fill('E2E project');
  await page.getByLabel('Manifest (relative to datasets/)').fill('e2e/m.jsonl');
  await page.getByLabel('Annotators (e-mails, comma-separated)').fill('annotator@e2e.test');
  await page.getByRole('button', { name: 'Import' }).click();
  const open = page.getByRole('link', { name: 'Open the project' });
  await expect(open).toBeVisible();
  const href = await open.getAttribute('href');

  const ctx = await browser.newContext({ baseURL: process.env.BASE_URL });
  const ann = await ctx.newPage();
  ann.on('pageerror', (e) => errors.push(String(e)));
  await login(ann, 'annotator@e2e.test', 'annot-pass-123');
  await ann.goto(href);
  await hydrated(ann);
  const start = ann.getByRole('button', { name: 'Start annotating' });
  await start.focus();
  await ann.keyboard.press('Enter');

  const captions = [
    'A rose bud opens into a full red bloom over one day.',
    'A block of ice melts into a spreading puddle within an hour.',
    'Bread dough doubles in size in a glass bowl over two hours.',
  ];
  for (let i = 0; i < 3; i++) {
    await expect(ann).toHaveURL(/\/annotate\/item\/\d+$/);
    await expect(ann.getByTestId('title')).toHaveText(`Clip ${i}`);
    await expect(ann.getByTestId('draft')).toHaveText(drafts[i]);
    // Each item is a page load (islands): its workspace must be hydrated before typing.
    await hydrated(ann);
    const caption = ann.getByLabel('Caption', { exact: true });
    await expect(caption).toBeFocused();
    await ann.keyboard.press('Control+A');
    await ann.keyboard.type(captions[i]);
    await expect(ann.getByTestId('words')).toContainText(`${captions[i].split(/\s+/).length} / 70 words`);
    await expect(ann.getByTestId('diff').locator('ins').first()).toBeVisible();
    if (i === 1) {
      await ann.keyboard.press('Alt+f');
      await expect(ann.locator('#flag-not_timelapse')).toBeFocused();
      await ann.keyboard.press('Tab');
      await ann.keyboard.press('Space'); // has a cut
      await expect(ann.locator('#flag-has_cut')).toBeChecked();
    }
    await ann.keyboard.press('Control+Enter');
  }
  // Nothing left: back on the project, two items in review and one flagged.
  await expect(ann).toHaveURL(new RegExp(`${href}$`));
  await expect(ann.getByTestId('counts')).toContainText('in review 2');
  await expect(ann.getByTestId('counts')).toContainText('flagged 1');

  // The reviewer sees the markup caption as text; nothing ran.
  await page.goto(href);
  await hydrated(page);
  await page.getByRole('link', { name: /#1 e2e0/ }).click();
  await expect(page.getByTestId('version').first()).toContainText(captions[0]);
  await expect(page.locator('.draft').first()).toHaveText(drafts[0]);
  expect(await page.evaluate(() => window.__xss)).toBeUndefined();
  expect(await ann.evaluate(() => window.__xss)).toBeUndefined();
  expect(errors).toEqual([]);
  await ctx.close();
});
