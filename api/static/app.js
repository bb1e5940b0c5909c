// The page: ask, show what each source says (quotes in context, a copy button each), open a quote in its
// document; the address carries the question (/?q=...); with an API key,
// list, upload and delete documents.
// Document text, titles and URLs are untrusted: they reach the DOM through textContent and
// createTextNode only, and links only when they are http(s).
"use strict";

const KEY_STORAGE = "rag.apiKey";
const CJK = /[\u3400-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]/;
const documents = new Map();

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else if (name === "onclick") node.addEventListener("click", value);
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function languageOf(text) {
  return CJK.test(text || "") ? "zh" : "en";
}

function safeUrl(url) {
  if (!url) return null;
  try {
    const parsed = new URL(url, window.location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function day(published) {
  return published ? published.slice(0, 10) : null;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function apiKey() {
  return $("api-key").value.trim();
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = apiKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  const response = await fetch(path, { ...options, headers });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const error = (body && body.error) || {};
    throw new ApiError(response.status, error.code || "http_error", error.message || `HTTP ${response.status}`);
  }
  return body;
}

// ---- status, errors, readiness --------------------------------------------------------------

function setStatus(text) {
  $("status").textContent = text;
}

function showError(error) {
  const box = $("error");
  box.replaceChildren();
  if (error instanceof ApiError && error.status === 401) {
    box.append("This server needs an API key. Enter it under “API key” at the top, then ask again.");
    $("key-panel").open = true;
    $("api-key").focus();
  } else {
    box.append(error.message || String(error));
  }
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").replaceChildren();
}

async function checkReadiness() {
  const banner = $("readiness");
  try {
    const response = await fetch("/readyz");
    if (response.ok) {
      banner.hidden = true;
      return;
    }
    const body = await response.json().catch(() => null);
    const message = body && body.error ? body.error.message : `HTTP ${response.status}`;
    banner.textContent = `The service is not ready: ${message}`;
    banner.hidden = false;
  } catch (error) {
    banner.textContent = `The service cannot be reached: ${error.message}`;
    banner.hidden = false;
  }
  window.setTimeout(checkReadiness, 3000);
}

// ---- asking ---------------------------------------------------------------------------------

async function ask(question, { remember = true } = {}) {
  clearError();
  const button = $("ask-button");
  button.disabled = true;
  button.textContent = "Asking…";
  setStatus("Looking through the documents…");
  try {
    const answer = await api("/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question }),
    });
    renderAnswer(answer);
    setStatus(summary(answer));
    // The address carries the question, so an answer can be shared and reloaded: /?q=...
    const url = new URL(window.location.href);
    if (remember && url.searchParams.get("q") !== question) {
      url.searchParams.set("q", question);
      window.history.pushState({ q: question }, "", url);
    }
  } catch (error) {
    setStatus("");
    showError(error);
  } finally {
    button.disabled = false;
    button.textContent = "Ask";
  }
}

function summary(answer) {
  if (answer.grade === "not_covered") return "";
  const n = answer.sources.length;
  const sources = `${n} source${n === 1 ? "" : "s"}`;
  return answer.grade === "answered" ? sources : `${sources} that may not answer the question`;
}

function renderAnswer(answer) {
  $("result").hidden = false;
  $("result").dataset.grade = answer.grade;
  $("no-answer").hidden = answer.grade !== "not_covered";
  $("uncertain").hidden = answer.grade !== "uncertain";
  // The probability the grade is drawn from (null with RAG_CONFIDENCE=off).
  const confidence = answer.confidence;
  $("confidence").hidden = confidence === null || confidence === undefined;
  $("confidence").textContent = $("confidence").hidden
    ? ""
    : `Confidence that these documents answer the question: ${Math.round(confidence * 100)}%`;
  $("sources").replaceChildren(...answer.sources.map(renderSourceCard));
  $("passages").replaceChildren(...answer.passages.map(renderPassage));
  $("passages-heading").textContent = `Closest passages (${answer.passages.length})`;
  // With no answer the passages are all there is to show: open them.
  $("passages-panel").open = answer.grade === "not_covered";
  $("timings").textContent = Object.entries(answer.timings_ms)
    .map(([name, ms]) => `${name} ${ms.toFixed(ms < 10 ? 1 : 0)} ms`)
    .join(" · ");
}

function renderSource(fields) {
  const href = safeUrl(fields.url);
  const title = href
    ? el("a", { href, target: "_blank", rel: "noopener noreferrer", className: "title", lang: languageOf(fields.title), text: fields.title })
    : el("span", { className: "title", lang: languageOf(fields.title), text: fields.title });
  const date = day(fields.published);
  return el("p", { className: "source" }, [
    title,
    date ? el("time", { datetime: fields.published, text: date }) : el("span", { className: "muted", text: "undated" }),
    el("span", { className: "file", text: fields.source_file }),
    ...(fields.page != null ? [el("span", { className: "page", text: `p. ${fields.page}` })] : []),
  ]);
}

// One card per source: its title, date and link, then its quotes, each between its neighbouring sentences.
function renderSourceCard(source) {
  const first = source.quotes[0];
  const header = renderSource({ ...source, page: first ? first.page : null });
  return el("li", { className: "source-card", "data-doc-id": source.doc_id }, [
    header,
    el("div", { className: "quotes" }, source.quotes.map((quote) => renderQuote(source, quote))),
  ]);
}

function renderQuote(source, quote) {
  const block = el("div", { className: "quote-block" + (quote.answers_heading ? " answers-heading" : "") });
  const before = quote.context_before
    ? el("p", { className: "context-line before", lang: languageOf(quote.context_before.text), text: quote.context_before.text })
    : null;
  const after = quote.context_after
    ? el("p", { className: "context-line after", lang: languageOf(quote.context_after.text), text: quote.context_after.text })
    : null;
  const button = el("button", {
    type: "button",
    className: "quote",
    lang: languageOf(quote.text),
    title: "Show this sentence in its document",
    "data-doc-id": source.doc_id,
    onclick: () => openContext(source.doc_id, quote.start, quote.end, quote.text),
  }, [el("q", {}, quoteParts(quote))]);
  const actions = [];
  if (before || after) {
    const expand = el("button", { type: "button", className: "expand", "aria-expanded": "false", text: "More context" });
    expand.addEventListener("click", () => {
      const open = block.classList.toggle("expanded");
      expand.setAttribute("aria-expanded", String(open));
      expand.textContent = open ? "Less context" : "More context";
    });
    actions.push(expand);
  }
  const copy = el("button", {
    type: "button",
    className: "copy",
    text: "Copy with citation",
    "aria-label": "Copy the quote with its citation",
  });
  copy.addEventListener("click", () => copyQuote(copy, citationText(source, quote)));
  actions.push(copy);
  if (quote.answers_heading) block.append(el("p", { className: "label", text: "What the source says next" }));
  block.append(...[before, button, after].filter(Boolean), el("div", { className: "quote-actions" }, actions));
  return block;
}

// The quote with its citation as plain text: what a person pastes into a note or a message.
function citationText(source, quote) {
  const parts = [source.title, day(source.published) || "undated", source.url || source.source_file];
  if (quote.page != null) parts.push(`p. ${quote.page}`);
  parts.push(`characters ${quote.start}–${quote.end}`);
  return `“${quote.text}”\n— ${parts.join(", ")}`;
}

async function copyQuote(button, text) {
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch {
    // No clipboard permission (or an insecure context): fall back to a selected, off-screen textarea.
    const area = el("textarea", { className: "visually-hidden", readonly: "" });
    area.value = text;
    document.body.append(area);
    area.select();
    copied = document.execCommand("copy");
    area.remove();
  }
  setStatus(copied ? "Copied the quote with its citation." : "Could not copy: select the quote and copy it by hand.");
  button.textContent = copied ? "Copied" : "Copy with citation";
  window.setTimeout(() => {
    button.textContent = "Copy with citation";
  }, 2000);
  button.focus();
}

// The quote with the reader's short answer marked; its offsets are into the document, like the quote's.
function quoteParts(item) {
  const start = item.answer_start, end = item.answer_end, base = item.start;
  if (start == null || end == null || start < base || end > item.end || end <= start) {
    return [item.text];
  }
  const text = item.text;
  return [
    text.slice(0, start - base),
    el("mark", { className: "short-answer", text: text.slice(start - base, end - base) }),
    text.slice(end - base),
  ];
}

function renderPassage(passage) {
  const text = el("button", {
    type: "button",
    className: "passage-text",
    lang: languageOf(passage.text),
    title: "Show this passage in its document",
    onclick: () => openContext(passage.doc_id, passage.start, passage.end, passage.text),
  }, [passage.text]);
  return el("li", { className: "passage" }, [
    el("p", { className: "passage-head" }, [
      el("span", { className: "title", lang: languageOf(passage.title), text: passage.title }),
      el("span", { className: "score", title: "retrieval score", text: passage.score.toFixed(4) }),
    ]),
    text,
  ]);
}

// ---- a quote in its document ----------------------------------------------------------------

async function loadDocument(docId) {
  if (!documents.has(docId)) {
    documents.set(docId, await api(`/documents/${encodeURIComponent(docId)}`));
  }
  return documents.get(docId);
}

async function openContext(docId, start, end, expected) {
  let doc;
  try {
    doc = await loadDocument(docId);
  } catch (error) {
    showError(error);
    return;
  }
  const quoted = doc.text.slice(start, end);
  const mark = el("mark", { text: quoted });
  $("context-text").replaceChildren(doc.text.slice(0, start), mark, doc.text.slice(end));
  $("context-text").setAttribute("lang", doc.language || languageOf(doc.text));
  $("context-title").textContent = doc.title;
  $("context-title").setAttribute("lang", languageOf(doc.title));
  renderContextMeta(doc);
  const warning = $("context-warning");
  warning.hidden = quoted === expected;
  warning.textContent = quoted === expected ? "" : `The citation's offsets ${start}–${end} do not match the quoted text.`;
  const dialog = $("context");
  if (!dialog.open) dialog.showModal();
  mark.scrollIntoView({ block: "center" });
}

function renderContextMeta(doc) {
  const parts = [];
  if (doc.author) parts.push(el("span", { lang: languageOf(doc.author), text: doc.author }));
  if (doc.published) parts.push(el("time", { datetime: doc.published, text: day(doc.published) }));
  const href = safeUrl(doc.url);
  if (href) parts.push(el("a", { href, target: "_blank", rel: "noopener noreferrer", text: "Original" }));
  parts.push(el("span", { className: "file", text: doc.source_file }));
  $("context-meta").replaceChildren(...parts);
}

// ---- documents: list, upload, delete (with an API key) --------------------------------------

function setLibraryStatus(text) {
  $("library-status").textContent = text;
}

function showLibraryError(message) {
  $("library-error").textContent = message;
  $("library-error").hidden = false;
}

function clearLibraryError() {
  $("library-error").hidden = true;
  $("library-error").textContent = "";
}

// The section shows once a key is entered; the writes it offers need one.
function toggleLibrary() {
  const section = $("library");
  const wasHidden = section.hidden;
  section.hidden = !apiKey();
  if (wasHidden && !section.hidden) {
    loadDocuments();
    resumeBuilds();
  }
}

async function loadDocuments() {
  try {
    const list = await api("/documents");
    renderDocuments(list);
  } catch (error) {
    showLibraryError(error.message);
  }
}

// A refresh (the key entered again, an upload elsewhere) replaces the rows: a keyboard user's focus
// stays on the same document's button instead of falling to the page.
function renderDocuments(list) {
  const body = $("documents-body");
  const focused = body.contains(document.activeElement) ? document.activeElement.dataset.docId : null;
  $("documents-caption").textContent = `${list.length} indexed document${list.length === 1 ? "" : "s"}`;
  body.replaceChildren(...list.map(renderDocumentRow));
  const again = focused && body.querySelector(`button.delete[data-doc-id="${CSS.escape(focused)}"]`);
  if (again) again.focus();
}

function renderDocumentRow(doc) {
  const remove = el("button", {
    type: "button",
    className: "delete",
    "data-doc-id": doc.doc_id,
    "aria-label": `Delete ${doc.title}`,
    text: "Delete",
    onclick: () => confirmDelete(doc),
  });
  return el("tr", { "data-doc-id": doc.doc_id }, [
    el("td", { lang: languageOf(doc.title), text: doc.title }),
    el("td", { className: "file", text: doc.source_file }),
    el("td", { text: doc.language }),
    el("td", { text: day(doc.published) || "—" }),
    el("td", { className: "number", text: doc.chars.toLocaleString("en-US") }),
    el("td", {}, [remove]),
  ]);
}

// The page does not wait on the rebuild with the request open (embedding a large file takes minutes, longer
// than a proxy keeps a request): it sends wait=false and follows the upload until it is done.
function upload(files) {
  if (!files.length) return;
  clearLibraryError();
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const request = new XMLHttpRequest();
  const progress = $("upload-progress");
  request.open("POST", "/documents?wait=false");
  if (apiKey()) request.setRequestHeader("Authorization", `Bearer ${apiKey()}`);
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) progress.value = Math.round((100 * event.loaded) / event.total);
  });
  request.upload.addEventListener("load", () => {
    progress.value = 100;
    setLibraryStatus("Uploaded; reading the files…");
  });
  request.addEventListener("load", () => uploaded(request));
  request.addEventListener("error", () => {
    progress.hidden = true;
    setLibraryStatus("");
    showLibraryError("The upload failed: the connection closed (is it over the server's size limit?).");
  });
  progress.value = 0;
  progress.hidden = false;
  setLibraryStatus(`Uploading ${files.length} file${files.length === 1 ? "" : "s"}…`);
  request.send(form);
}

function uploaded(request) {
  $("upload-progress").hidden = true;
  let body = null;
  try {
    body = JSON.parse(request.responseText);
  } catch {
    body = null;
  }
  if (request.status !== 202 || !body || !body.id) {
    setLibraryStatus("");
    const error = (body && body.error) || {};
    showLibraryError(error.message || `The upload failed (HTTP ${request.status}).`);
    return;
  }
  follow(request.getResponseHeader("Location") || `/index/builds/${encodeURIComponent(body.id)}`, body);
}

const FOLLOW_MS = [200, 400, 800, 1000]; // soon for a small file, then once a second
const FOLLOW_STATUS = {
  upload: {
    queued: "Uploaded; waiting for an earlier change to the index to finish…",
    running: "Uploaded; keeping the files and updating the index…",
  },
  rebuild: {
    queued: "A rebuild waits for an earlier change to the index to finish…",
    running: "Rebuilding the index…",
  },
};
const FOLLOW_TRIES = 30; // a server that restarts (its model loading: 503) is waited for about half a minute

let following = null; // the build this page follows, one at a time

// Opened again while a build runs (the page reloaded during an upload, or a rebuild started elsewhere): follow it.
async function resumeBuilds() {
  if (following) return;
  try {
    const [latest] = await api("/index/builds?limit=1");
    if (latest && !following && (latest.status === "queued" || latest.status === "running")) {
      follow(`/index/builds/${encodeURIComponent(latest.id)}`, latest);
    }
  } catch {
    // The documents view shows its own errors; an unreadable list of builds is not one to show.
  }
}

async function follow(location, record) {
  following = record.id;
  try {
    await pollBuild(location, record);
  } finally {
    following = null;
  }
}

async function pollBuild(location, record) {
  let lost = 0;
  for (let n = 0; record.status === "queued" || record.status === "running"; n++) {
    if (!lost) setLibraryStatus(FOLLOW_STATUS[record.kind][record.status]);
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS[Math.min(n, FOLLOW_MS.length - 1)]));
    try {
      record = await api(location);
      lost = 0;
    } catch (error) {
      // No answer, or 503 while a restarted server loads: try again; a refusal (401, 404) is final.
      const transient = !(error instanceof ApiError) || error.status === 503;
      if (!transient || ++lost > FOLLOW_TRIES) {
        setLibraryStatus("");
        showLibraryError(`Could not follow the upload: ${error.message}`);
        return;
      }
      setLibraryStatus("Lost contact with the server; trying again…");
    }
  }
  if (record.status !== "done") {
    setLibraryStatus("");
    showLibraryError((record.error && record.error.message) || "The upload failed.");
    return;
  }
  if (record.kind === "upload") {
    finishUpload(record.result);
  } else {
    setLibraryStatus(`Rebuilt; the index now holds ${record.result.documents} documents`);
    documents.clear();
    loadDocuments();
  }
}

function finishUpload(body) {
  const added = body.files.filter((f) => f.accepted).length;
  const refused = body.files.length - added;
  setLibraryStatus(`${added} added, ${refused} refused` + (body.index ? `; the index now holds ${body.index.documents} documents` : ""));
  $("upload-results").replaceChildren(...body.files.map(renderOutcome));
  documents.clear();
  loadDocuments();
}

function renderOutcome(file) {
  const name = el("span", { className: "file", text: file.name });
  if (file.accepted) {
    return el("li", { className: "accepted" }, [name, ` added as ${file.doc_id}`]);
  }
  return el("li", { className: "refused" }, [name, ` refused: ${file.reason}`]);
}

let pendingDelete = null;

function confirmDelete(doc) {
  pendingDelete = doc;
  $("confirm-text").replaceChildren(
    el("span", { lang: languageOf(doc.title), text: doc.title }),
    ` (${doc.source_file}) will be removed from the documents folder and from answers.`,
  );
  $("confirm-delete").showModal();
}

async function deleteConfirmed() {
  const doc = pendingDelete;
  $("confirm-delete").close();
  if (!doc) return;
  pendingDelete = null;
  clearLibraryError();
  setLibraryStatus(`Deleting ${doc.title}…`);
  try {
    await api(`/documents/${encodeURIComponent(doc.doc_id)}`, { method: "DELETE" });
    documents.delete(doc.doc_id);
    setLibraryStatus(`Deleted ${doc.title}.`);
    await loadDocuments();
    $("choose-files").focus();
  } catch (error) {
    setLibraryStatus("");
    showLibraryError(error.message);
  }
}

function wireLibrary() {
  const zone = $("dropzone");
  $("choose-files").addEventListener("click", () => $("file-input").click());
  $("file-input").addEventListener("change", () => {
    upload([...$("file-input").files]);
    $("file-input").value = "";
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    upload([...event.dataTransfer.files]);
  });
  $("confirm-ok").addEventListener("click", deleteConfirmed);
  $("confirm-cancel").addEventListener("click", () => $("confirm-delete").close());
  $("confirm-delete").addEventListener("close", () => {
    pendingDelete = null;
  });
}

// ---- wiring ---------------------------------------------------------------------------------

function submit(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) {
    $("question").focus();
    return;
  }
  ask(question);
}

function init() {
  const key = $("api-key");
  key.value = window.sessionStorage.getItem(KEY_STORAGE) || "";
  key.addEventListener("change", () => {
    window.sessionStorage.setItem(KEY_STORAGE, key.value.trim());
    if (!$("library").hidden) loadDocuments();
  });
  key.addEventListener("input", toggleLibrary);
  wireLibrary();
  toggleLibrary();
  $("ask-form").addEventListener("submit", submit);
  $("question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) submit(event);
  });
  for (const example of document.querySelectorAll(".example")) {
    example.addEventListener("click", () => {
      $("question").value = example.textContent;
      ask(example.textContent);
    });
  }
  $("context-close").addEventListener("click", () => $("context").close());
  $("context").addEventListener("click", (event) => {
    if (event.target === $("context")) $("context").close();
  });
  checkReadiness();
  window.addEventListener("popstate", askFromAddress);
  askFromAddress();
}

// The question in the address (/?q=...): asked on load and when going back and forward.
function askFromAddress() {
  const initial = new URL(window.location.href).searchParams.get("q");
  if (initial && initial.trim()) {
    $("question").value = initial;
    ask(initial.trim(), { remember: false });
  }
}

document.addEventListener("DOMContentLoaded", init);
