// The thumbnails page: upload, watch live, browse, delete — through the public REST API
// only (the same routes, token and limits as any client). No framework, no build step.
// URLs are relative, so the page also works behind a path prefix.

const API = "api/v1";
const PAGE_SIZE = 24;
const TOKEN_KEY = "thumbnail-operator.token";

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- the token
// Asked for once, when the API first answers 401; kept in sessionStorage (this tab only).
let tokenWaiters = null;

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function askToken(message) {
  if (!tokenWaiters) {
    tokenWaiters = [];
    const dialog = $("token-dialog");
    const error = $("token-error");
    error.hidden = !message;
    error.textContent = message || "";
    $("token").value = "";
    dialog.showModal();
  }
  return new Promise((resolve) => tokenWaiters.push(resolve));
}

$("token-form").addEventListener("submit", () => {
  const value = $("token").value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  $("forget-token").hidden = false;
  const waiters = tokenWaiters || [];
  tokenWaiters = null;
  waiters.forEach((resolve) => resolve());
});

$("token-dialog").addEventListener("cancel", (e) => e.preventDefault());

$("forget-token").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});

function authHeaders(extra = {}) {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

// fetch with the token; a 401 asks for one (again) and retries.
async function api(path, options = {}) {
  for (;;) {
    const response = await fetch(path, { ...options, headers: authHeaders(options.headers) });
    if (response.status !== 401) return response;
    const hadToken = Boolean(token());
    sessionStorage.removeItem(TOKEN_KEY);
    await askToken(hadToken ? "That token was not accepted." : "");
  }
}

// The API's own words for a failed answer: {code, message, field?, item?, requestId}.
async function problem(response) {
  return (await problemBody(response)).message;
}

// The whole error body (an upload's refusal says which field, and which item of
// `sizes`); a body that is not the API's JSON becomes its status line.
async function problemBody(response) {
  try {
    const body = await response.json();
    if (body && body.message) return body;
  } catch {
    // not JSON: fall through
  }
  return { message: `HTTP ${response.status} ${response.statusText}` };
}

// ---------------------------------------------------------------- the limits
// Served by the shim from the same definitions its validation uses.
let limits = null;

function option(select, value, label = value) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  select.append(o);
}

async function loadLimits() {
  const response = await fetch(`${API}/limits`);
  if (!response.ok) throw new Error(await problem(response));
  limits = await response.json();
  for (const side of ["width", "height"]) {
    const input = $(side);
    input.min = limits[side].min;
    input.max = limits[side].max;
    $(`${side}-hint`).textContent = `${limits[side].min}–${limits[side].max} px`;
  }
  const q = $("quality");
  q.min = limits.quality.min;
  q.max = limits.quality.max;
  $("quality-hint").textContent = `${limits.quality.min}–${limits.quality.max}`;
  for (const fit of limits.fits) option($("fit"), fit, fit === limits.defaultFit ? `${fit} (default)` : fit);
  $("fit").value = limits.defaultFit;
  for (const format of limits.formats) {
    option($("format"), format, format === limits.defaultFormat ? `${format} (default)` : format);
  }
  $("format").value = limits.defaultFormat;
  $("files").accept = limits.acceptedTypes.join(",");
  $("drop-hint").textContent =
    `Each file is uploaded with the settings above; up to ${formatBytes(limits.maxUploadBytes)} each.`;
  $("sizes-hint").textContent = `optional, instead of width and height; up to ${limits.maxSizes}`;
  syncOptions();
  syncSizes();
}

// Quality applies only to some formats; fits other than the default need both sides.
function syncOptions() {
  const lossy = limits.qualityFormats.includes($("format").value);
  $("quality").disabled = !lossy;
  $("quality-hint").textContent = lossy
    ? `${limits.quality.min}–${limits.quality.max}`
    : `not for ${$("format").value}`;
}

$("format").addEventListener("change", syncOptions);

// With sizes, width and height are not sent (the API refuses both at once): they are
// switched off so the form shows what an upload will ask for.
function syncSizes() {
  const several = $("sizes").value.trim() !== "";
  for (const side of ["width", "height"]) $(side).disabled = several;
}

function sizesError(message) {
  const input = $("sizes");
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  $("sizes-error").textContent = message || "";
}

$("sizes").addEventListener("input", () => {
  syncSizes();
  sizesError("");
});

// The form's values, checked against the limits before anything is sent; the API checks
// again and its message is shown when it refuses.
function uploadFields() {
  const fields = {};
  const problems = [];
  const sizes = $("sizes").value.trim();
  if (sizes) {
    // Only the count is checked here (it is in the limits); each item's syntax is the
    // API's to judge, and its refusal names the item.
    const count = sizes.split(",").length;
    if (count > limits.maxSizes) {
      const message = `at most ${limits.maxSizes} sizes per upload, ${count} given`;
      problems.push(message);
      sizesError(message);
    }
    fields.sizes = sizes;
  }
  for (const side of sizes ? [] : ["width", "height"]) {
    const raw = $(side).value.trim();
    if (!raw) continue;
    const n = Number(raw);
    const { min, max } = limits[side];
    if (!Number.isInteger(n) || n < min || n > max) problems.push(`${side} must be a whole number from ${min} to ${max}`);
    fields[side] = raw;
  }
  if (!sizes && !fields.width && !fields.height) problems.push("give a width, a height or both");
  fields.fit = $("fit").value;
  fields.format = $("format").value;
  // With sizes, the fit is what items without their own get; the API checks each item.
  if (!sizes && fields.fit !== limits.defaultFit && !(fields.width && fields.height)) {
    problems.push(`fit ${fields.fit} needs both width and height`);
  }
  const q = $("quality");
  if (!q.disabled && q.value.trim()) {
    const n = Number(q.value);
    const { min, max } = limits.quality;
    if (!Number.isInteger(n) || n < min || n > max) problems.push(`quality must be a whole number from ${min} to ${max}`);
    fields.quality = q.value.trim();
  }
  return { fields, problems };
}

// ---------------------------------------------------------------- cards
// Every card showing a thumbnail, by id: the upload strip and the gallery may both.
const cards = new Map();
const imageUrls = new Map(); // id -> {etag, url}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function formatTime(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

function newCard(label) {
  const li = $("card").content.firstElementChild.cloneNode(true);
  li.querySelector(".name").textContent = label;
  li.querySelector(".delete").hidden = true;
  li.querySelector(".doc").hidden = true;
  return li;
}

function track(id, li) {
  li.dataset.id = id;
  if (!cards.has(id)) cards.set(id, new Set());
  cards.get(id).add(li);
}

function untrack(li) {
  const set = cards.get(li.dataset.id);
  if (set) set.delete(li);
}

function fact(dl, term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  dl.append(dt, dd);
}

function link(view, rel) {
  return (view.links || []).find((l) => l.rel === rel);
}

// Draws `view` (the API's JSON of one thumbnail) into every card of its id.
function show(view) {
  for (const li of cards.get(view.id) || []) render(li, view);
}

// "128×auto inside, webp q70": what a thumbnail asked for.
function askedText(r) {
  const asked = [r.width ?? "auto", r.height ?? "auto"].join("×");
  return `${asked} ${r.fit}, ${r.format}${r.quality ? ` q${r.quality}` : ""}`;
}

// What a card is called: its file name; a size of a group (whose file name its group
// shows) adds what it asked for, so that its buttons' names tell the sizes apart.
function title(li, view) {
  const name = view.filename || view.id;
  return li.dataset.group ? `${name} ${askedText(view.requested)}` : name;
}

function render(li, view) {
  li.dataset.status = view.status;
  li.querySelector(".name").textContent = li.dataset.group ? askedText(view.requested) : view.filename || view.id;
  li.querySelector(".name").title = view.id;
  li.querySelector(".status").textContent = view.status;
  li.querySelector(".reason").textContent = view.reason && view.status !== "success" ? view.reason : "";
  const message = li.querySelector(".message");
  message.textContent = view.status === "error" ? view.message || "" : "";
  const dl = li.querySelector(".facts");
  dl.replaceChildren();
  fact(dl, "asked", askedText(view.requested));
  if (view.output) {
    fact(dl, "made", `${view.output.width}×${view.output.height} ${view.output.contentType.replace("image/", "")}`);
    fact(dl, "bytes", formatBytes(view.output.bytes));
  }
  if (view.created) fact(dl, "created", formatTime(view.created));
  if (view.created && view.completed) {
    const seconds = (new Date(view.completed) - new Date(view.created)) / 1000;
    fact(dl, "took", `${Math.max(0, seconds).toFixed(0)} s`);
  }
  const self = link(view, "self");
  const doc = li.querySelector(".doc");
  if (self) {
    documentLink(doc, self.href);
    doc.setAttribute("aria-label", `API document of ${title(li, view)}`);
  }
  const del = li.querySelector(".delete");
  del.hidden = !link(view, "delete");
  del.setAttribute("aria-label", `Delete ${title(li, view)}`);
  del.onclick = () => remove(view, title(li, view));
  const download = link(view, "download");
  const box = li.querySelector(".thumb");
  const save = li.querySelector(".download");
  save.hidden = true;
  if (view.status === "success" && download) {
    loadImage(view, download.href, box, save, title(li, view));
  } else {
    box.replaceChildren(placeholder(view.status));
  }
  if (li.dataset.group) updateGroup(li.dataset.group);
}

// A link to an API document (a thumbnail's or a group's). A plain link sends no token:
// with one, the document is fetched with it and shown here (its URL too, for curl),
// instead of a tab that would get 401.
function documentLink(a, href) {
  a.href = href;
  a.hidden = false;
  a.onclick = async (event) => {
    if (!token()) return;
    event.preventDefault();
    const response = await api(href);
    const text = await response.text();
    let shown = text;
    try {
      shown = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // Not JSON (an error page): shown as it came.
    }
    $("doc-url").textContent = new URL(href, window.location.href).href;
    $("doc-body").textContent = shown;
    $("doc-dialog").showModal();
  };
}

function placeholder(status) {
  const span = document.createElement("span");
  span.className = "placeholder";
  span.textContent = status === "error" ? "✕" : status === "success" ? "" : "…";
  span.setAttribute("aria-hidden", "true");
  return span;
}

// Images are fetched with the token (an <img src> cannot send one) and shown from a
// blob: URL; a re-render (new bytes) is fetched again, an unchanged one is not.
// Cards of the same thumbnail share one download (a promise of its blob: URL).
async function loadImage(view, href, box, save, name) {
  const key = `${view.output.bytes}:${view.completed || ""}`;
  let entry = imageUrls.get(view.id);
  if (!entry || entry.key !== key) {
    const previous = entry;
    entry = {
      key,
      url: api(href)
        .then(async (response) => (response.ok ? URL.createObjectURL(await response.blob()) : null))
        .catch(() => null),
    };
    imageUrls.set(view.id, entry);
    if (previous) previous.url.then((url) => url && URL.revokeObjectURL(url));
  }
  const url = await entry.url;
  if (!url) {
    // Tried again at the next change or page.
    if (imageUrls.get(view.id) === entry) imageUrls.delete(view.id);
    box.replaceChildren(placeholder("error"));
    return;
  }
  const img = document.createElement("img");
  img.src = url;
  img.alt = `Thumbnail of ${view.filename || view.id}, ${view.output.width}×${view.output.height}`;
  img.width = view.output.width;
  img.height = view.output.height;
  box.replaceChildren(img);
  // The same bytes saved as a file (a plain link to the download URL would get 401
  // from a shim that wants a token), named after the upload and the size.
  const stem = (view.filename || view.id).replace(/\.[^.]*$/, "");
  const extension = view.output.contentType.replace("image/", "").replace("jpeg", "jpg");
  save.href = url;
  save.download = `${stem}-${view.output.width}x${view.output.height}.${extension}`;
  save.setAttribute("aria-label", `Download ${name}`);
  save.hidden = false;
}

function forget(id) {
  const inGroups = new Set();
  for (const li of cards.get(id) || []) {
    if (li.dataset.group) inGroups.add(li.dataset.group);
    li.remove();
  }
  for (const group of inGroups) updateGroup(group);
  cards.delete(id);
  const entry = imageUrls.get(id);
  if (entry) entry.url.then((url) => url && URL.revokeObjectURL(url));
  imageUrls.delete(id);
}

async function remove(view, name) {
  if (!confirm(`Delete ${name}? Its thumbnail and original are removed.`)) return;
  const response = await api(link(view, "delete").href, { method: "DELETE" });
  if (response.status === 204 || response.status === 404) {
    forget(view.id);
    galleryChanged();
  } else {
    const message = await problem(response);
    for (const li of cards.get(view.id) || []) li.querySelector(".message").textContent = message;
  }
}

// ---------------------------------------------------------------- uploads
async function uploadAll(files) {
  sizesError("");
  const { fields, problems } = uploadFields();
  const error = $("options-error");
  error.hidden = problems.length === 0;
  error.textContent = problems.join("; ");
  if (problems.length) return;
  $("uploads-title").hidden = false;
  await Promise.all([...files].map((file) => uploadOne(file, fields)));
}

async function uploadOne(file, fields) {
  const li = newCard(file.name);
  // The uploads' statuses are announced as they change (the gallery's are not: a page of
  // them arriving at once would drown a screen reader).
  li.querySelector(".status").setAttribute("role", "status");
  li.dataset.status = "sending";
  li.querySelector(".status").textContent = "sending";
  $("uploads").prepend(li);
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append("file", file, file.name);
  let response;
  try {
    response = await api(`${API}/thumbnails`, { method: "POST", body: form });
  } catch (e) {
    failed(li, `could not reach the service: ${e.message}`);
    return;
  }
  if (response.status !== 202) {
    const body = await problemBody(response);
    failed(li, body.message);
    // A bad size is the form's to fix: said next to the field too (the message names
    // the item, e.g. `sizes item 2 ("300x"): ...`).
    if (body.field === "sizes") sizesError(body.message);
    return;
  }
  const accepted = await response.json();
  if (accepted.group) {
    showGroup(li, file, accepted);
    return;
  }
  track(accepted.id, li);
  // The event stream brings the rest; until then, what the upload answered.
  const current = latest.get(accepted.id);
  render(li, current || { id: accepted.id, status: accepted.status, filename: file.name,
    requested: { width: fields.width, height: fields.height, fit: fields.fit, format: fields.format,
      quality: fields.quality }, links: accepted.links });
}

// ---------------------------------------------------------------- groups
// An upload with sizes: its card becomes the group's, holding one card per size. The
// sizes are thumbnails like any other (the event stream updates them by id); the
// group's line counts their statuses as GET api/v1/groups/{id} does.
function showGroup(li, file, accepted) {
  const group = document.createElement("li");
  group.className = "group";
  group.dataset.group = accepted.group;
  const head = document.createElement("div");
  head.className = "group-head";
  const name = document.createElement("p");
  name.className = "name";
  name.textContent = file.name;
  name.title = accepted.group;
  // One announcement per group as its sizes finish (each size's own would be many).
  const summary = document.createElement("p");
  summary.className = "summary";
  summary.setAttribute("role", "status");
  const self = link(accepted, "self");
  head.append(name, summary);
  if (self) {
    const doc = document.createElement("a");
    doc.className = "doc";
    doc.target = "_blank";
    doc.rel = "noopener";
    doc.textContent = "Group API";
    documentLink(doc, self.href);
    doc.setAttribute("aria-label", `API document of the group of ${file.name}`);
    head.append(doc);
  }
  const list = document.createElement("ul");
  list.className = "cards members";
  list.setAttribute("aria-label", `Sizes of ${file.name}`);
  group.append(head, list);
  li.replaceWith(group);
  for (const [i, member] of accepted.thumbnails.entries()) {
    const card = newCard(file.name);
    card.dataset.group = accepted.group;
    card.dataset.item = String(i + 1);
    track(member.id, card);
    list.append(card);
    render(card, latest.get(member.id) || { id: member.id, status: member.status, filename: file.name,
      requested: member.requested, links: member.links });
  }
}

function updateGroup(id) {
  const group = document.querySelector(`#uploads .group[data-group="${CSS.escape(id)}"]`);
  if (!group) return;
  const statuses = [...group.querySelectorAll(".card")].map((card) => card.dataset.status);
  if (statuses.length === 0) {
    // Every size was deleted.
    group.remove();
    return;
  }
  const count = (s) => statuses.filter((x) => x === s).length;
  const [success, error, uploaded] = [count("success"), count("error"), count("uploaded")];
  const done = success + error;
  const status = success === statuses.length ? "success"
    : done === statuses.length ? "error"
    : uploaded === statuses.length ? "uploaded" : "processing";
  group.dataset.status = status;
  const text = `${status}: ${done} of ${statuses.length} sizes done${error ? `, ${error} failed` : ""}`;
  const summary = group.querySelector(".summary");
  if (summary.textContent !== text) summary.textContent = text;
}

function failed(li, message) {
  li.dataset.status = "refused";
  li.querySelector(".status").textContent = "refused";
  li.querySelector(".message").textContent = message;
  li.querySelector(".thumb").replaceChildren(placeholder("error"));
}

const drop = $("drop");
$("files").addEventListener("change", (e) => {
  uploadAll(e.target.files);
  e.target.value = "";
});
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files.length) uploadAll(e.dataTransfer.files);
});

// ---------------------------------------------------------------- the gallery
// Pages follow the API's continue tokens; `pages` holds the token of each page seen.
const gallery = { pages: [null], index: 0, next: null, status: "" };

for (const s of ["uploaded", "processing", "success", "error"]) option($("filter"), s);
$("filter").addEventListener("change", () => {
  gallery.status = $("filter").value;
  gallery.pages = [null];
  gallery.index = 0;
  loadPage();
});
$("next").addEventListener("click", () => {
  if (!gallery.next) return;
  gallery.pages[gallery.index + 1] = gallery.next;
  gallery.index += 1;
  loadPage();
});
$("prev").addEventListener("click", () => {
  if (gallery.index === 0) return;
  gallery.index -= 1;
  loadPage();
});

async function loadPage() {
  const list = $("gallery");
  list.setAttribute("aria-busy", "true");
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (gallery.status) params.set("status", gallery.status);
  const cont = gallery.pages[gallery.index];
  if (cont) params.set("continue", cont);
  const response = await api(`${API}/thumbnails?${params}`);
  const error = $("gallery-error");
  if (!response.ok) {
    error.hidden = false;
    error.textContent = await problem(response);
    if (response.status === 410) {
      gallery.pages = [null];
      gallery.index = 0;
    }
    list.setAttribute("aria-busy", "false");
    return;
  }
  error.hidden = true;
  const page = await response.json();
  for (const li of [...list.children]) untrack(li);
  list.replaceChildren();
  for (const view of page.items) {
    const li = newCard(view.filename || view.id);
    track(view.id, li);
    list.append(li);
    render(li, latest.get(view.id) || view);
  }
  gallery.next = page.continue || null;
  $("next").disabled = !gallery.next;
  $("prev").disabled = gallery.index === 0;
  $("page-number").textContent = `Page ${gallery.index + 1}`;
  list.setAttribute("aria-busy", "false");
  galleryChanged();
}

function galleryChanged() {
  $("empty").hidden = $("gallery").children.length > 0;
}

// A thumbnail the gallery does not show yet: on the first page, if it matches the
// filter, it goes in its place (newest first).
function maybeAdd(view) {
  if (gallery.index !== 0 || (gallery.status && view.status !== gallery.status)) return;
  const list = $("gallery");
  if ([...list.children].some((li) => li.dataset.id === view.id)) return;
  const li = newCard(view.filename || view.id);
  track(view.id, li);
  // Ids sort newest first (the API lists in that order): keep the page so.
  const after = [...list.children].find((other) => other.dataset.id > view.id);
  list.insertBefore(li, after || null);
  render(li, view);
  galleryChanged();
}

// ---------------------------------------------------------------- the event stream
// GET api/v1/thumbnails/events read with fetch (EventSource cannot send a token).
// Reconnects with Last-Event-ID, so what happened meanwhile arrives in order.
const latest = new Map(); // id -> the newest view seen on the stream
let lastEventId = null;
let retryMs = 2000;
let snapshot = null; // ids seen since the last `reset`

function setLive(state, text) {
  const el = $("live");
  el.dataset.state = state;
  el.textContent = text;
}

function dispatch(type, data) {
  if (type === "thumbnail") {
    const view = JSON.parse(data);
    latest.set(view.id, view);
    if (snapshot) snapshot.add(view.id);
    show(view);
    // New since the snapshot: the gallery's first page gets it (maybeAdd checks).
    if (!snapshot) maybeAdd(view);
  } else if (type === "deleted") {
    const { id } = JSON.parse(data);
    latest.delete(id);
    forget(id);
    galleryChanged();
  } else if (type === "reset") {
    snapshot = new Set();
  } else if (type === "synced") {
    // Whatever the page shows that the snapshot did not hold is gone.
    if (snapshot) {
      for (const id of [...cards.keys()]) {
        if (!snapshot.has(id) && cards.get(id).size && [...cards.get(id)].some((li) => li.isConnected && li.closest("#gallery"))) {
          forget(id);
        }
      }
    }
    snapshot = null;
    setLive("live", "live");
    galleryChanged();
  } else if (type === "error") {
    setLive("down", JSON.parse(data).message);
  }
}

async function follow() {
  for (;;) {
    try {
      const headers = { Accept: "text/event-stream" };
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      const response = await api(`${API}/thumbnails/events`, { headers });
      if (!response.ok) {
        setLive("down", `reconnecting (${await problem(response)})`);
      } else {
        if (lastEventId) setLive("live", "live");
        await read(response.body);
        setLive("down", "reconnecting…");
      }
    } catch {
      setLive("down", "reconnecting…");
    }
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}

// The SSE format: fields per line, events end at a blank line; `:` lines are comments.
async function read(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let type = "message";
  let data = [];
  let id = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let nl;
    while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
      if (line === "") {
        if (id !== null) lastEventId = id;
        if (data.length) dispatch(type, data.join("\n"));
        type = "message";
        data = [];
        id = null;
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value2 = colon < 0 ? "" : line.slice(colon + 1);
      if (value2.startsWith(" ")) value2 = value2.slice(1);
      if (field === "event") type = value2;
      else if (field === "data") data.push(value2);
      else if (field === "id") id = value2;
      else if (field === "retry" && /^\d+$/.test(value2)) retryMs = Number(value2);
    }
  }
}

// ---------------------------------------------------------------- start
async function start() {
  if (token()) $("forget-token").hidden = false;
  try {
    await loadLimits();
  } catch (e) {
    const error = $("options-error");
    error.hidden = false;
    error.textContent = `The upload limits could not be read: ${e.message}`;
  }
  await loadPage();
  document.body.dataset.ready = "true";
  follow();
}

start();
