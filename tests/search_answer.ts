/** The scripted web search answer the search tests share (fake upstreams build on it). */
import type { FakeSearchAnswer } from "../bench/fake_upstream.ts";

export const DENO = { url: "https://deno.com/blog/v3", title: "Deno 3 is here" };
export const NEWS = {
  url: "https://news.example.org/deno-3",
  title: "Deno 3 ships – café edition",
};
export const SPAM = { url: "https://spam.test/deno", title: "Deno mirror" };

/** Two searches; an answer with a cited stretch after non-ASCII text, one with two sources. */
export const ANSWER: FakeSearchAnswer = {
  searches: [
    { query: "deno 3 release date", pages: [DENO, NEWS] },
    { query: "deno 3 features", pages: [SPAM] },
  ],
  pieces: [
    "Here is what I found — café style. ",
    "Deno 3 was released in 2026 ([deno.com](https://deno.com/blog/v3)). ",
    "It adds a new 🦕 package manager ([news.example.org](https://news.example.org/deno-3)).",
  ],
  cites: [
    { text: "([deno.com](https://deno.com/blog/v3))", pages: [DENO, NEWS] },
    { text: "([news.example.org](https://news.example.org/deno-3))", pages: [NEWS] },
  ],
};
