/**
 * The dashboard's static files, bundled into the module graph as text: the page's script and the
 * chart library, uPlot, from its npm package (so the page works offline and in a compiled
 * binary). Loaded with a dynamic import on the first dashboard request: text imports need
 * `--unstable-raw-imports`, which deno.json sets, and nothing else depends on them.
 *
 * @module
 */
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import appJs from "./app.js" with { type: "text" };
import pageHtml from "./page.html" with { type: "text" };
import ticksJs from "./ticks.js" with { type: "text" };

/** Path → [content type, body] of every static dashboard file. */
export const ASSETS: Readonly<Record<string, readonly [string, string]>> = {
  "/dashboard": ["text/html; charset=utf-8", pageHtml],
  "/dashboard/app.js": ["text/javascript; charset=utf-8", appJs],
  "/dashboard/ticks.js": ["text/javascript; charset=utf-8", ticksJs],
  "/dashboard/uplot.js": ["text/javascript; charset=utf-8", uplotJs],
  "/dashboard/uplot.css": ["text/css; charset=utf-8", uplotCss],
};
