// The web page at / in headless Chromium (Debian's, driven by playwright-core), against
// a running stack: the shim with a token, the operator in local mode, the real resizer.
// Run by api-shim/tests/web-ui.sh, which starts that stack.
//
//   node browser-test.mjs BASE_URL TOKEN CORPUS_DIR ARTIFACTS_DIR
//
// Screenshots of the main states go to ARTIFACTS_DIR. Exits non-zero on the first
// failed check, saying which (and a screenshot of that moment, failure.png).

import { createRequire } from "node:module";
import { readFileSync, writeFileSync, unlinkSync, mkdirSync, existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import assert from "node:assert/strict";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const [base, token, corpus, artifacts] = process.argv.slice(2);
if (!base || !token || !corpus || !artifacts) {
  console.error("usage: node browser-test.mjs BASE_URL TOKEN CORPUS_DIR ARTIFACTS_DIR");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
if (!existsSync(executablePath)) {
  console.error(`chromium is missing at ${executablePath}: apt-get install chromium (make deps), or set CHROMIUM`);
  process.exit(1);
}
mkdirSync(artifacts, { recursive: true });

const log = (msg) => console.error(`[browser] ${msg}`);
// Generous bounds for a busy 2-core machine; each wait ends as soon as its condition holds.
const LONG = Number(process.env.BROWSER_TEST_WAIT_MS || 120_000);
const PHOTOS = ["j07_colorfulcups_2560x1600_prog.jpg", "j04_wood_2560x1920.jpg"];

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: "light" });
const page = await context.newPage();
// Script errors fail the test; the browser's own lines about refused requests (401 before
// the token, 415 for the text file) are expected.
const consoleErrors = [];
page.on("console", (m) => {
  if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) consoleErrors.push(m.text());
});
page.on("pageerror", (e) => consoleErrors.push(String(e)));
// Only the shim is ever asked for anything: no CDN, no other origin.
const foreign = [];
page.on("request", (r) => {
  const url = r.url();
  if (!url.startsWith(base) && !url.startsWith("blob:") && !url.startsWith("data:")) foreign.push(url);
});

const shot = async (name) => {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
  log(`screenshot ${name}.png`);
};

async function apiFetch(path, options = {}) {
  return fetch(`${base}${path}`, { ...options, headers: { Authorization: `Bearer ${token}`, ...(options.headers || {}) } });
}

// Stops or starts the shim through web-ui.sh's watcher (a file each way).
async function shim(action) {
  const control = process.env.SHIM_CONTROL;
  assert.ok(control, "SHIM_CONTROL is not set: run this from api-shim/tests/web-ui.sh");
  const done = join(control, action === "stop" ? "stopped" : "started");
  writeFileSync(join(control, action), "");
  const deadline = Date.now() + LONG;
  while (!existsSync(done)) {
    assert.ok(Date.now() < deadline, `the shim did not ${action}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  unlinkSync(done);
}

const card = (list, name) => page.locator(`#${list} .card`).filter({ has: page.locator(".name", { hasText: name }) });

try {
  // ------------------------------------------------------------ the token, asked once
  await page.goto(`${base}/`);
  const dialog = page.getByRole("dialog", { name: "Access token" });
  await dialog.waitFor({ state: "visible" });
  await shot("01-token");
  await page.getByLabel("Token", { exact: true }).fill("not-the-token");
  await page.getByRole("button", { name: "Use token" }).click();
  await page.getByText("That token was not accepted.").waitFor();
  await page.getByLabel("Token", { exact: true }).fill(token);
  await page.getByRole("button", { name: "Use token" }).click();
  await page.waitForSelector("body[data-ready=true]", { timeout: LONG });
  await page.waitForSelector("#live[data-state=live]", { timeout: LONG });
  assert.equal(await page.evaluate(() => sessionStorage.getItem("thumbnail-operator.token")), token);
  log("token asked for, a wrong one refused, the right one kept in sessionStorage; the stream is live");

  // ------------------------------------------------------------ limits from the API
  const limits = await (await fetch(`${base}/api/v1/limits`)).json();
  assert.equal(await page.getByLabel(/^Width/).getAttribute("max"), String(limits.width.max));
  assert.equal(await page.getByLabel(/^Quality/).getAttribute("max"), String(limits.quality.max));
  const fits = await page.locator("#fit option").evaluateAll((os) => os.map((o) => o.value));
  assert.deepEqual(fits, limits.fits);
  const formats = await page.locator("#format option").evaluateAll((os) => os.map((o) => o.value));
  assert.deepEqual(formats, limits.formats);
  await page.getByLabel("Format").selectOption("png");
  assert.equal(await page.getByLabel(/^Quality/).isDisabled(), true, "quality is off for png");
  await page.getByLabel("Format").selectOption("webp");
  assert.equal(await page.getByLabel(/^Quality/).isDisabled(), false);
  log("the controls carry the API's limits (width/quality ranges, fits, formats, quality only for lossy formats)");

  // Every control is labelled.
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input, select")].filter((el) => el.labels.length === 0).map((el) => el.id));
  assert.deepEqual(unlabelled, [], "controls without a label");

  // Keyboard: Tab reaches the controls, the file picker, the filter.
  await page.locator("body").focus();
  const reached = new Set();
  for (let i = 0; i < 20; i++) {
    await page.keyboard.press("Tab");
    reached.add(await page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName));
  }
  for (const id of ["width", "height", "fit", "format", "quality", "sizes", "files", "filter"]) {
    assert.ok(reached.has(id), `Tab never reached #${id} (reached ${[...reached].join(", ")})`);
  }
  log("every control is labelled and reached with Tab");

  // ------------------------------------------------------------ uploads
  await page.evaluate(() => {
    window.__notReloaded = true;
    // Every status each gallery card shows, in order, as the page draws it.
    window.__statuses = {};
    new MutationObserver((records) => {
      // Records come in batches: the text each set put in is its added text node (the
      // element's text now may be a later one).
      for (const r of records) {
        const status = r.target.closest?.(".status");
        const card = r.target.closest?.(".card");
        const text = r.addedNodes[0]?.data;
        if (!status || !card?.dataset.id || text === undefined) continue;
        const seen = (window.__statuses[card.dataset.id] ||= []);
        if (seen[seen.length - 1] !== text) seen.push(text);
      }
    }).observe(document.getElementById("gallery"), { subtree: true, childList: true, characterData: true });
  });
  await page.getByLabel(/^Width/).fill("320");
  await page.getByLabel(/^Quality/).fill("70");
  // Two real photos dropped at once (drag and drop of files, as a person would).
  const files = PHOTOS.map((name) => ({ name, bytes: readFileSync(join(corpus, name)).toString("base64") }));
  const transfer = await page.evaluateHandle((files) => {
    const dt = new DataTransfer();
    for (const f of files) {
      const bytes = Uint8Array.from(atob(f.bytes), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], f.name, { type: "image/jpeg" }));
    }
    return dt;
  }, files);
  await page.dispatchEvent("#drop", "dragover", { dataTransfer: transfer });
  await page.dispatchEvent("#drop", "drop", { dataTransfer: transfer });
  // A corrupt JPEG (a real photo cut short: its header is fine, its data is not) and a
  // text file, through the file picker.
  const photo = readFileSync(join(corpus, "j09_storm_1920x1280.jpg"));
  await page.locator("#files").setInputFiles([
    { name: "corrupt.jpg", mimeType: "image/jpeg", buffer: photo.subarray(0, 4096) },
    { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("not an image at all\n") },
  ]);
  // Each appears at once as a card.
  for (const name of [...PHOTOS, "corrupt.jpg", "notes.txt"]) await card("uploads", name).waitFor();
  await shot("02-uploading");

  // The text file is refused by the API, in its own words, next to the file.
  const refused = card("uploads", "notes.txt");
  await refused.locator(".status", { hasText: "refused" }).waitFor({ timeout: LONG });
  const refusal = await refused.locator(".message").textContent();
  assert.match(refusal, /not an image|image/i, `the refusal is the API's message: ${refusal}`);

  // The statuses change without a reload: success for the photos, error for the cut one.
  for (const name of PHOTOS) {
    await card("uploads", name).locator(".status", { hasText: "success" }).waitFor({ timeout: LONG });
  }
  const corrupt = card("uploads", "corrupt.jpg");
  await corrupt.locator(".status", { hasText: "error" }).waitFor({ timeout: LONG });
  assert.match(await corrupt.locator(".reason").textContent(), /Corrupt|NotAnImage/);
  assert.ok((await corrupt.locator(".message").textContent()).length > 0, "the failure's message is shown");
  assert.equal(await page.evaluate(() => window.__notReloaded), true, "the page was reloaded");
  assert.equal(await page.evaluate(() => performance.getEntriesByType("navigation").length), 1);

  // The images are really rendered (decoded, with pixels), not only in the DOM.
  for (const name of PHOTOS) {
    const img = card("uploads", name).locator("img");
    await img.waitFor({ timeout: LONG });
    await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout: LONG });
    const natural = await img.evaluate((el) => [el.naturalWidth, el.naturalHeight]);
    assert.equal(natural[0], 320, `${name} is rendered 320 px wide, got ${natural}`);
    assert.match(await card("uploads", name).locator(".facts").textContent(), /320×\d+ webp/);
  }
  const firstIds = await page.locator("#uploads .card[data-id]").evaluateAll((cs) => cs.map((c) => c.dataset.id));
  assert.equal(firstIds.length, 3, "three uploads were accepted");
  await shot("03-uploaded");
  // The README's picture (docs/web-page.png is a copy): the first screen after uploads.
  await page.screenshot({ path: join(artifacts, "readme.png") });
  log("2 photos success, corrupt.jpg error with its reason, notes.txt refused with the API's words; images rendered (naturalWidth 320); no reload");

  // The gallery shows them too (they arrived on the stream), newest first, and each
  // card went through every status live.
  for (const id of firstIds) await page.locator(`#gallery .card[data-id="${id}"]`).waitFor({ timeout: LONG });
  const statuses = await page.evaluate(() => window.__statuses);
  const photoIds = await page.locator("#uploads .card[data-status=success]").evaluateAll((cs) => cs.map((c) => c.dataset.id));
  const corruptId = await card("uploads", "corrupt.jpg").getAttribute("data-id");
  for (const id of photoIds) assert.deepEqual(statuses[id], ["uploaded", "processing", "success"], `statuses shown for ${id}`);
  assert.deepEqual(statuses[corruptId], ["uploaded", "processing", "error"], "statuses shown for corrupt.jpg");
  const order = await page.locator("#gallery .card").evaluateAll((cs) => cs.map((c) => c.dataset.id));
  assert.deepEqual(order.slice(0, 3), [...firstIds].sort(), "the gallery's first cards are the new uploads, newest first");
  log("their gallery cards showed uploaded, processing, then success or error, as each happened");
  const galleryImg = page.locator("#gallery .card[data-status=success] img").first();
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await galleryImg.elementHandle(), { timeout: LONG });

  // ------------------------------------------------------------ paging through 60
  // 60 more thumbnails through the API (a small real JPEG each), then reload the page.
  const small = readFileSync(join(corpus, "j09_storm_1920x1280.jpg"));
  const made = [];
  for (let i = 0; i < 60; i++) {
    const form = new FormData();
    form.append("width", "16");
    form.append("file", new Blob([small], { type: "image/jpeg" }), `bulk-${String(i).padStart(2, "0")}.jpg`);
    const r = await apiFetch("/api/v1/thumbnails", { method: "POST", body: form });
    if (r.status !== 202) assert.fail(`bulk upload ${i}: ${r.status} ${await r.text()}`);
    made.push((await r.json()).id);
  }
  log("60 more thumbnails uploaded through the API");
  await page.reload();
  await page.waitForSelector("body[data-ready=true]", { timeout: LONG });
  await page.evaluate(() => { window.__notReloaded = true; });
  assert.equal(await dialog.isVisible(), false, "the token is asked for once per tab, not again on reload");
  // What the API lists (63 in the test's own namespace: 2 photos, the corrupt one, 60).
  let total = 0;
  for (let cont = null; ;) {
    const r = await (await apiFetch(`/api/v1/thumbnails?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`)).json();
    total += r.items.length;
    cont = r.continue;
    if (!cont) break;
  }
  assert.ok(total >= 63, `the API lists ${total}`);
  const seen = [];
  const pageSizes = [];
  for (let p = 1; ; p++) {
    await page.locator("#page-number", { hasText: `Page ${p}` }).waitFor();
    await page.waitForSelector("#gallery[aria-busy=false]");
    const ids = await page.locator("#gallery .card").evaluateAll((cs) => cs.map((c) => c.dataset.id));
    pageSizes.push(ids.length);
    seen.push(...ids);
    if (p === 2) await shot("04-page-2");
    if (await page.getByRole("button", { name: "Older →" }).isDisabled()) break;
    await page.getByRole("button", { name: "Older →" }).click();
  }
  const sizes = [];
  for (let left = total; left > 0; left -= 24) sizes.push(Math.min(24, left));
  assert.deepEqual(pageSizes, sizes, `pages of 24 over ${total} thumbnails`);
  assert.equal(new Set(seen).size, total, "every thumbnail once");
  assert.deepEqual([...seen], [...seen].sort(), "ids in name order, which is newest first");
  assert.equal(seen[0], made[made.length - 1], "the newest upload first");
  assert.deepEqual(seen.slice(0, 60), [...made].reverse(), "the 60 newest first, in reverse upload order");
  assert.deepEqual(new Set(seen.slice(60, 63)), new Set(firstIds), "then the page's three uploads");
  await page.getByRole("button", { name: "← Newer" }).click();
  await page.locator("#page-number", { hasText: `Page ${pageSizes.length - 1}` }).waitFor();
  log(`paged through ${total} thumbnails: pages of ${pageSizes.join(", ")}, newest first, each once, back again`);

  // ------------------------------------------------------------ filter, delete
  await page.getByLabel("Status").selectOption("error");
  await page.locator("#page-number", { hasText: "Page 1" }).waitFor();
  await page.waitForSelector("#gallery[aria-busy=false]");
  await card("gallery", "corrupt.jpg").waitFor();
  assert.equal(await page.locator("#gallery .card").count(), 1, "only the failed one has status error");
  await shot("05-filter-error");
  const victim = card("gallery", "corrupt.jpg");
  const victimId = await victim.getAttribute("data-id");
  page.once("dialog", (d) => {
    assert.match(d.message(), /Delete corrupt\.jpg\?/);
    d.accept();
  });
  await victim.getByRole("button", { name: "Delete corrupt.jpg" }).click();
  await victim.waitFor({ state: "detached", timeout: LONG });
  await page.locator("#empty").waitFor({ state: "visible" });
  // The API no longer has it (the operator removes its finalizer after cleaning up).
  const deadline = Date.now() + LONG;
  for (;;) {
    const r = await apiFetch(`/api/v1/thumbnails/${victimId}`);
    if (r.status === 404) break;
    assert.ok(Date.now() < deadline, `${victimId} still answers ${r.status}`);
    await new Promise((res) => setTimeout(res, 250));
  }
  log("the error filter shows only the failed one; deleted after a confirmation, gone from the API");

  // ------------------------------------------------------------ the shim restarts
  // The page reconnects by itself; what happened while the shim was down arrives.
  await page.getByLabel("Status").selectOption("");
  await page.locator("#page-number", { hasText: "Page 1" }).waitFor();
  await page.waitForSelector("#gallery[aria-busy=false]");
  const gone = await page.locator("#gallery .card").first().getAttribute("data-id");
  await shim("stop");
  await page.waitForSelector("#live[data-state=down]", { timeout: LONG });
  await shot("06-shim-down");
  // Deleted with kubectl while the shim is away (the operator finishes the deletion).
  execFileSync(process.env.KUBECTL || "kubectl", [
    "--kubeconfig", process.env.THUMBNAIL_TEST_KUBECONFIG, "-n", process.env.SHIM_NAMESPACE,
    "delete", "thumbnail", gone, "--wait=true", "--timeout=60s",
  ], { stdio: ["ignore", "ignore", "inherit"] });
  await shim("start");
  await page.waitForSelector("#live[data-state=live]", { timeout: LONG });
  await page.locator(`#gallery .card[data-id="${gone}"]`).waitFor({ state: "detached", timeout: LONG });
  assert.equal(await page.evaluate(() => window.__notReloaded), true, "the page was reloaded");
  log("the shim stopped and started again: the page said so, reconnected, and removed what was deleted meanwhile");

  // ------------------------------------------------------------ a card's API document
  // Shown with the token (a plain link would get 401 from a shim that requires one).
  const first = page.locator("#gallery .card").first();
  const firstId = await first.getAttribute("data-id");
  await first.locator(".doc").click();
  await page.locator("#doc-dialog[open]").waitFor({ timeout: LONG });
  const apiDoc = JSON.parse(await page.locator("#doc-body").innerText());
  assert.equal(apiDoc.id, firstId, "the API document of the card");
  await shot("07-api-document");
  await page.getByRole("button", { name: "Close" }).click();
  await page.locator("#doc-dialog[open]").waitFor({ state: "detached", timeout: LONG });
  log("a card's API link shows its JSON document, fetched with the token");

  // ------------------------------------------------------------ several sizes
  // The sizes input: its hint carries the API's limit; filled, it switches width and
  // height off, and the upload sends `sizes` (with the shared fit, format and quality)
  // instead of them; the answer's group is shown as one card per size, each going to
  // success live, with its image and a download of its bytes.
  const sizesInput = page.getByLabel(/^Several sizes/);
  assert.match(await page.locator("#sizes-hint").textContent(), new RegExp(`up to ${limits.maxSizes}\\b`));
  await page.getByLabel("Format").selectOption("webp");
  await page.getByLabel(/^Quality/).fill("60");
  await sizesInput.fill("128,200x200:cover:png,x100:avif:q40");
  assert.equal(await page.getByLabel(/^Width/).isDisabled(), true, "width is off with sizes");
  assert.equal(await page.getByLabel(/^Height/).isDisabled(), true, "height is off with sizes");
  // The form the page hands to fetch, field by field (the browser's record of a request
  // body may leave file parts out, so the body is read where it is made).
  await page.evaluate(() => {
    const send = window.fetch;
    window.fetch = (url, options) => {
      if (options?.body instanceof FormData) {
        window.__sent = [...options.body.entries()].map(([name, v]) =>
          [name, typeof v === "string" ? v : { file: v.name, type: v.type, bytes: v.size }]);
      }
      return send(url, options);
    };
  });
  const posted = page.waitForRequest((r) => r.method() === "POST" && r.url().endsWith("/api/v1/thumbnails"));
  // 2560x1600: 128 wide is 128x80, 200x200 cover is exact, 100 high is 160x100.
  await page.locator("#files").setInputFiles([
    { name: "leaf.jpg", mimeType: "image/jpeg", buffer: readFileSync(join(corpus, "j06_fallenleaf_2560x1600.jpg")) },
  ]);
  const request = await posted;
  // The exact request: a multipart form whose text fields are sizes and the shared
  // fit, format and quality (no width or height), then the file.
  // (api-shim/tests/rest_api.rs sends the same form: the_web_pages_sizes_upload_...)
  assert.match((await request.allHeaders())["content-type"], /^multipart\/form-data; boundary=/);
  const leafBytes = readFileSync(join(corpus, "j06_fallenleaf_2560x1600.jpg")).length;
  assert.deepEqual(await page.evaluate(() => window.__sent), [
    ["sizes", "128,200x200:cover:png,x100:avif:q40"],
    ["fit", "inside"],
    ["format", "webp"],
    ["quality", "60"],
    ["file", { file: "leaf.jpg", type: "image/jpeg", bytes: leafBytes }],
  ], "the form the page sends");
  const answered = await request.response();
  assert.equal(answered.status(), 202, await answered.text());
  const accepted = await answered.json();
  const group = accepted.group;
  assert.ok(group, `the answer is a group: ${JSON.stringify(accepted)}`);
  const memberIds = accepted.thumbnails.map((t) => t.id);
  assert.deepEqual(memberIds, ["01", "02", "03"].map((n) => `${group}-${n}`));
  const groupBox = page.locator(`#uploads .group[data-group="${group}"]`);
  await groupBox.waitFor();
  assert.equal(await groupBox.locator(".name").first().textContent(), "leaf.jpg");
  assert.deepEqual(
    await groupBox.locator(".card").evaluateAll((cs) => cs.map((c) => c.dataset.id)), memberIds,
    "one card per size, in the order of sizes");
  await groupBox.locator(".summary", { hasText: "success: 3 of 3 sizes done" }).waitFor({ timeout: LONG });
  assert.equal(await groupBox.getAttribute("data-status"), "success");
  const expected = [[128, 80, "webp"], [200, 200, "png"], [160, 100, "avif"]];
  for (const [i, id] of memberIds.entries()) {
    const member = groupBox.locator(`.card[data-id="${id}"]`);
    assert.equal(await member.getAttribute("data-status"), "success");
    const img = member.locator("img");
    await img.waitFor({ timeout: LONG });
    await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout: LONG });
    const [w, h, format] = expected[i];
    assert.deepEqual(await img.evaluate((el) => [el.naturalWidth, el.naturalHeight]), [w, h], `${id} is rendered`);
    assert.match(await member.locator(".facts").textContent(), new RegExp(`${w}×${h} ${format}`));
  }
  // The download link saves the thumbnail's bytes under a name that says which size.
  const view = await (await apiFetch(`/api/v1/thumbnails/${memberIds[1]}`)).json();
  const saving = page.waitForEvent("download");
  await groupBox.locator(`.card[data-id="${memberIds[1]}"]`).getByRole("link", { name: /^Download/ }).click();
  const saved = await saving;
  assert.equal(saved.suggestedFilename(), "leaf-200x200.png");
  const savedBytes = readFileSync(await saved.path());
  assert.equal(savedBytes.length, view.output.bytes, "the download is the thumbnail");
  assert.equal(savedBytes.subarray(1, 4).toString(), "PNG");
  // What the API made of the page's request: the group, each size as asked.
  const groupView = await (await apiFetch(`/api/v1/groups/${group}`)).json();
  assert.equal(groupView.status, "success");
  assert.deepEqual(groupView.thumbnails.map((t) => t.requested), [
    { width: 128, fit: "inside", format: "webp", quality: 60 },
    { width: 200, height: 200, fit: "cover", format: "png" },
    { height: 100, fit: "inside", format: "avif", quality: 40 },
  ]);
  await shot("09-sizes");
  log("sizes: the page sent sizes, fit, format, quality and the file; a group of 3 shown live, each image rendered, one downloaded");

  // A bad item: refused by the API naming it, said next to the file and the field.
  await sizesInput.fill("128,300x");
  await page.locator("#files").setInputFiles([
    { name: "bad-sizes.jpg", mimeType: "image/jpeg", buffer: readFileSync(join(corpus, "j06_fallenleaf_2560x1600.jpg")) },
  ]);
  const badSizes = card("uploads", "bad-sizes.jpg");
  await badSizes.locator(".status", { hasText: "refused" }).waitFor({ timeout: LONG });
  assert.match(await badSizes.locator(".message").textContent(), /sizes item 2 \("300x"\)/);
  assert.match(await page.locator("#sizes-error").textContent(), /sizes item 2 \("300x"\)/);
  assert.equal(await sizesInput.getAttribute("aria-invalid"), "true");
  // Too many: said before anything is sent, with the limit.
  const uploadsBefore = await page.locator("#uploads > li").count();
  await sizesInput.fill(Array.from({ length: limits.maxSizes + 1 }, (_, i) => String(10 + i)).join(","));
  assert.equal(await sizesInput.getAttribute("aria-invalid"), null, "typing clears the error");
  await page.locator("#files").setInputFiles([
    { name: "too-many.jpg", mimeType: "image/jpeg", buffer: readFileSync(join(corpus, "j06_fallenleaf_2560x1600.jpg")) },
  ]);
  await page.locator("#options-error", { hasText: `at most ${limits.maxSizes} sizes` }).waitFor();
  assert.equal(await page.locator("#uploads > li").count(), uploadsBefore, "nothing was sent");
  await shot("10-sizes-refused");
  // Emptied, the form is the single-size one again.
  await sizesInput.fill("");
  assert.equal(await page.getByLabel(/^Width/).isDisabled(), false, "width is back without sizes");
  log("sizes: a bad item refused naming it, next to the file and the field; too many said before sending");

  // ------------------------------------------------------------ looks: dark mode, phone
  await page.getByLabel("Status").selectOption("");
  await page.locator("#gallery .card").first().waitFor();
  await page.emulateMedia({ colorScheme: "dark" });
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, "rgb(15, 18, 22)", "dark mode follows the system");
  await shot("07-dark");
  await page.emulateMedia({ colorScheme: "light" });
  await page.setViewportSize({ width: 375, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than a phone screen`);
  await page.screenshot({ path: join(artifacts, "08-phone.png") });
  log("dark mode follows the system; a 375 px wide screen has no horizontal scroll");

  assert.deepEqual(foreign, [], "requests to other origins");
  assert.deepEqual(consoleErrors, [], "errors in the console");
  log("no request left the shim's origin; no script errors");
  console.log("web page: 1 passed, 0 failed");
} catch (e) {
  await page.screenshot({ path: join(artifacts, "failure.png"), fullPage: true }).catch(() => {});
  console.error(`[browser] FAILED: ${e.stack || e}`);
  if (consoleErrors.length) console.error(`[browser] script errors: ${consoleErrors.join("\n")}`);
  console.error(`[browser] screenshot of this moment: ${join(artifacts, "failure.png")}`);
  console.log("web page: 0 passed, 1 failed");
  process.exitCode = 1;
} finally {
  await browser.close();
}
