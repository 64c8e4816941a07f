/**
 * Headless Chromium for the dashboard's browser test and screenshot: Debian's `chromium`
 * (`apt-get install chromium`; `.ci/run` installs it), or `CHROMIUM_PATH`, driven by
 * `npm:puppeteer-core`, offline, with a fresh profile that is removed afterwards.
 *
 * @module
 */
import puppeteer, { type Browser } from "puppeteer-core";

/** Where Chromium is looked for, in order. */
const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

/** The Chromium binary, or undefined when none is installed. */
export function chromiumPath(): string | undefined {
  const chosen = Deno.env.get("CHROMIUM_PATH");
  for (const path of chosen ? [chosen] : CANDIDATES) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A launched browser and the function that closes it and removes its profile. */
export async function launchChromium(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const executablePath = chromiumPath();
  if (!executablePath) {
    throw new Error(
      "Chromium is not installed: apt-get install -y chromium (or set CHROMIUM_PATH)",
    );
  }
  const profile = await Deno.makeTempDir({ prefix: "ccproxy-chromium-" });
  const browser = await puppeteer.launch({
    executablePath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
      `--user-data-dir=${profile}`,
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}
