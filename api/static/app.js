// The page: ask, show quoted sentences with their sources, open a quote in its document.
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

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = $("api-key").value.trim();
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

async function ask(question) {
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
    const count = answer.evidence.length;
    setStatus(answer.answerable ? `${count} quoted sentence${count === 1 ? "" : "s"}` : "");
    const url = new URL(window.location.href);
    url.searchParams.set("q", question);
    window.history.replaceState(null, "", url);
  } catch (error) {
    setStatus("");
    showError(error);
  } finally {
    button.disabled = false;
    button.textContent = "Ask";
  }
}

function renderAnswer(answer) {
  $("result").hidden = false;
  $("no-answer").hidden = answer.answerable;
  $("evidence").replaceChildren(...answer.evidence.map(renderEvidence));
  $("passages").replaceChildren(...answer.passages.map(renderPassage));
  $("passages-heading").textContent = `Closest passages (${answer.passages.length})`;
  // With no answer the passages are all there is to show: open them.
  $("passages-panel").open = !answer.answerable;
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

function renderEvidence(item) {
  const citation = item.citation;
  const quote = el("button", {
    type: "button",
    className: "quote",
    lang: languageOf(item.text),
    title: "Show this sentence in its document",
    "data-doc-id": citation.doc_id,
    onclick: () => openContext(citation.doc_id, citation.start, citation.end, item.text),
  }, [el("q", {}, quoteParts(item))]);
  return el("li", { className: "evidence-item" }, [quote, renderSource(citation)]);
}

// The quote with the reader's short answer marked; its offsets are into the document, like the quote's.
function quoteParts(item) {
  const start = item.answer_start, end = item.answer_end, base = item.citation.start;
  if (start == null || end == null || start < base || end > item.citation.end || end <= start) {
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
  key.addEventListener("change", () => window.sessionStorage.setItem(KEY_STORAGE, key.value.trim()));
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
  const initial = new URL(window.location.href).searchParams.get("q");
  if (initial && initial.trim()) {
    $("question").value = initial;
    ask(initial.trim());
  }
}

document.addEventListener("DOMContentLoaded", init);
