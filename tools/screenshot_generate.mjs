// Screenshot of the Generate page at its defaults (docs/): logs in as a researcher, generates
// the given prompt with the form's default settings (the model's generation_config.json), waits
// for the video, and saves the page and the MP4. Usage (server running, account existing):
//   BASE_URL=http://127.0.0.1:3000 EMAIL=... PASSWORD=... node tools/screenshot_generate.mjs \
//     "prompt" docs/generate.png docs/generate.mp4
import { chromium } from '@playwright/test';
import { writeFileSync } from 'node:fs';

const [prompt, png, mp4] = process.argv.slice(2);
const base = process.env.BASE_URL;
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
await page.goto(`${base}/login?next=/generate`);
await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30_000 });
await page.getByLabel('E-mail').fill(process.env.EMAIL);
await page.getByLabel('Password').fill(process.env.PASSWORD);
await page.getByRole('button', { name: 'Log in' }).click();
await page.waitForURL(/\/generate$/);
await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30_000 });
await page.getByLabel('Prompt', { exact: true }).fill(prompt);
await page.getByRole('button', { name: 'Generate' }).click();
const job = page.locator('li.job').first();
await job.locator('video').waitFor({ timeout: 600_000 });
const src = await job.locator('video').getAttribute('src');
const video = await page.request.get(`${base}${src}`);
writeFileSync(mp4, await video.body());
await page.screenshot({ path: png, fullPage: true });
await browser.close();
console.log(`wrote ${png} and ${mp4} (${src})`);
