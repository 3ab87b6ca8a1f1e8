import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Why browser tests would be skipped here, or undefined when they can run.
 * In CI a missing Chromium is a failure, never a skip.
 */
export function browserUnavailable(): string | undefined {
  if (existsSync(CHROMIUM_PATH) || process.env['CI']) return undefined;
  return `Debian's chromium is not installed at ${CHROMIUM_PATH} (apt-get install chromium)`;
}

/** Debian's Chromium, headless; the background-networking flags keep it off a network this machine does not have. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
