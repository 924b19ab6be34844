// Takes the README screenshot (docs/screenshot.png) of a running server:
//   node tools/screenshot.mjs http://127.0.0.1:3000/
import { chromium } from '@playwright/test';

const url = process.argv[2] ?? 'http://127.0.0.1:3000/';
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1100, height: 640 } });
await page.goto(url);
await page.waitForSelector('body[data-hydrated="true"]', { timeout: 20000 });
await page.screenshot({ path: 'docs/screenshot.png' });
await browser.close();
console.log('wrote docs/screenshot.png');
