// anima-caption review serve: the page's script. Plain JavaScript, no build step.
// Everything from the dataset is put into the page with textContent, never as HTML.
"use strict";

const TOKEN = document.querySelector('meta[name="review-token"]').content;
const READ_ONLY = (document.querySelector('meta[name="read-only"]') || {}).content || "";
const PAGE = 150; // cards drawn per step while scrolling
const state = {
  items: [], // by id, as the server last sent them
  edits: new Map(), // id -> edited body (unsaved)
  shown: [], // ids passing the filter, in order
  drawn: 0,
  current: null, // id open in the editor
  live: null, // the editor's last check result
  generation: -1,
  seq: -1, // the server's change counter when the cards' diagnostics were last brought in
};

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

async function api(path, payload) {
  const options = { headers: { "X-Review-Token": TOKEN }, credentials: "same-origin" };
  if (payload !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(payload);
  }
  const response = await fetch(path, options);
  let data = null;
  try {
    data = await response.json();
  } catch (error) {
    data = { error: `${response.status} ${response.statusText}` };
  }
  if (!response.ok) throw new Error(data.error || `${response.status}`);
  return data;
}

let messageTimer = 0;
function say(text, bad) {
  const box = $("message");
  box.textContent = text;
  box.classList.toggle("bad", Boolean(bad));
  clearTimeout(messageTimer);
  messageTimer = setTimeout(() => { box.textContent = ""; }, bad ? 9000 : 5000);
}

function debounce(fn, ms) {
  let timer = 0;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function cssGroup(group) {
  return "g-" + String(group).toLowerCase().replace(/[^a-z0-9]/g, "-");
}

// ---- loading ---------------------------------------------------------------------------

async function loadItems() {
  // The first screenful comes checked; the rest comes parsed (tags coloured) and the
  // diagnostics follow from /api/updates as the server's background check produces them.
  let offset = 0;
  for (;;) {
    const data = await api(`/api/items?offset=${offset}&limit=${offset === 0 ? 100 : 1000}`);
    for (const item of data.items) state.items[item.id] = item;
    offset += data.items.length;
    if (offset === data.items.length) { state.seq = data.seq; applyFilter(); } // the first page: draw at once
    progress(data);
    if (data.items.length === 0 || offset >= data.total) break;
  }
  refreshOptions();
  applyFilter(true);
  pollDataset();
}

function progress(status) {
  const text = status.complete
    ? `${status.total} images and captions`
    : `${status.ready ?? status.total} of ${status.total} captions checked…`;
  $("progress").textContent = text;
}

async function loadUpdates() {
  const data = await api(`/api/updates?since=${state.seq}`);
  state.seq = data.seq;
  if (!data.items.length) return data;
  for (const u of data.items) {
    const item = state.items[u.id];
    if (!item) continue;
    item.diagnostics = u.diagnostics;
    item.status = u.status;
    item.ready = u.ready;
  }
  refreshOptions();
  if ($("rule").value || terms().length) applyFilter(true);
  else for (const u of data.items) redrawCard(u.id);
  return data;
}

async function pollDataset() {
  for (;;) {
    let status = await api("/api/status");
    if (status.seq !== state.seq) status = await loadUpdates();
    progress(status);
    if (status.complete && status.generation !== state.generation) {
      state.generation = status.generation;
      await loadDataset();
    }
    await new Promise((resolve) => setTimeout(resolve, status.complete ? 3000 : 300));
  }
}

async function loadDataset() {
  const data = await api("/api/dataset");
  // Dataset rules' findings belong to cards too.
  const byItem = new Map();
  for (const f of data.findings) {
    if (!byItem.has(f.id)) byItem.set(f.id, []);
    byItem.get(f.id).push(f);
  }
  for (const item of state.items) {
    if (!item) continue;
    const own = item.diagnostics.filter((d) => !d.dataset);
    const extra = (byItem.get(item.id) || []).map((f, n) => ({
      n, code: f.code, name: f.name, slug: f.name.split("/")[1], severity: f.severity,
      message: f.message, start: null, end: null, fix: null, dataset: true,
    }));
    item.diagnostics = own.concat(extra);
  }
  drawFindings(data);
  drawPolicy(data);
  drawChart(data);
  refreshOptions();
  applyFilter(true);
}

// ---- filtering -------------------------------------------------------------------------

function terms() {
  return $("filter").value.split(",").map((t) => t.trim().toLowerCase()).filter(Boolean);
}

function matches(item, term) {
  if (item.key.toLowerCase().includes(term)) return true;
  for (const s of item.segments) if (s.kind === "tag" && s.text.toLowerCase().includes(term)) return true;
  for (const d of item.diagnostics) {
    const code = d.code.toLowerCase();
    if (code === term || d.slug === term || d.name.toLowerCase() === term) return true;
    if (term.length >= 3 && /^[a-z]{2}\d/.test(term) && code.startsWith(term)) return true;
  }
  return false;
}

function applyFilter(keepScroll) {
  const wanted = terms();
  const rule = $("rule").value;
  const group = $("group").value;
  state.shown = [];
  for (const item of state.items) {
    if (!item) continue;
    if (rule && !item.diagnostics.some((d) => d.name === rule)) continue;
    if (group && !item.segments.some((s) => s.kind === "tag" && s.group === group)) continue;
    if (!wanted.every((t) => matches(item, t))) continue;
    state.shown.push(item.id);
  }
  $("count").textContent = `${state.shown.length} of ${state.items.filter(Boolean).length} shown`;
  const cards = $("cards");
  cards.replaceChildren();
  state.drawn = 0;
  drawMore();
  if (!keepScroll) window.scrollTo(0, 0);
}

function refreshOptions() {
  const rules = new Map();
  const groups = new Set();
  for (const item of state.items) {
    if (!item) continue;
    for (const d of item.diagnostics) rules.set(d.name, (rules.get(d.name) || 0) + 1);
    for (const s of item.segments) if (s.kind === "tag") groups.add(s.group);
  }
  fillSelect($("rule"), "any rule", [...rules.keys()].sort().map((r) => [r, `${r} (${rules.get(r)})`]));
  fillSelect($("group"), "any group", [...groups].sort().map((g) => [g, g]));
  const legend = $("legend");
  legend.replaceChildren(`tags coloured by ${document.querySelector('meta[name="grouping"]').content}: `);
  for (const g of [...groups].sort()) legend.append(el("span", { class: `tag ${cssGroup(g)}`, text: g }), " ");
}

function fillSelect(select, none, options) {
  const keep = select.value;
  select.replaceChildren(el("option", { value: "", text: none }));
  for (const [value, label] of options) select.append(el("option", { value, text: label }));
  select.value = options.some(([v]) => v === keep) ? keep : "";
}

// ---- cards -----------------------------------------------------------------------------

const observer = new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting)) drawMore();
}, { rootMargin: "800px" });

function drawMore() {
  const cards = $("cards");
  const end = Math.min(state.shown.length, state.drawn + PAGE);
  const fragment = document.createDocumentFragment();
  for (let i = state.drawn; i < end; i++) fragment.append(card(state.items[state.shown[i]]));
  cards.append(fragment);
  state.drawn = end;
  const first = cards.querySelector(".card");
  if (first && !cards.querySelector('.card[tabindex="0"]')) first.tabIndex = 0;
  observer.disconnect();
  if (state.drawn < state.shown.length) observer.observe($("more"));
}

function bodyOf(item) {
  return state.edits.has(item.id) ? state.edits.get(item.id) : item.body;
}

function captionNode(item, segments, diagnostics) {
  const p = el("p", { class: "caption" });
  if (item.read_error) { p.append(el("span", { class: "bad", text: item.read_error })); return p; }
  if (!item.exists && !segments.length) { p.append(el("span", { class: "bad", text: "no caption file" })); return p; }
  const wanted = terms();
  const flagged = diagnostics.filter((d) => d.start !== null && d.severity !== "info");
  for (const s of segments) {
    if (s.kind === "tag") {
      const notes = flagged.filter((d) => d.start < s.end && s.start < d.end).map((d) => `${d.name}: ${d.message}`);
      const hit = wanted.some((t) => s.text.toLowerCase().includes(t));
      p.append(el("span", {
        class: `tag ${cssGroup(s.group)}${notes.length ? " flag" : ""}${hit ? " hit" : ""}`,
        title: [s.group, ...notes].join("\n"), dataset: { tag: s.text },
        text: s.raw,
      }));
    } else if (s.kind === "nl") p.append(el("span", { class: "nl", text: s.raw }));
    else p.append(el("span", { class: "syntax", text: s.raw }));
    p.append(s.trail);
  }
  return p;
}

function diagList(diagnostics) {
  const list = el("ul", { class: "diags" });
  for (const d of diagnostics) {
    list.append(el("li", { class: `sev-${d.severity}` }, el("code", { text: d.name }), ` ${d.message}`));
  }
  return list;
}

function card(item) {
  const dirty = state.edits.has(item.id);
  const node = el("article", {
    class: `card ${item.status}${dirty ? " dirty" : ""}`, role: "listitem", tabindex: "-1",
    dataset: { id: item.id, file: item.key },
    "aria-label": `${item.key}${dirty ? " (edited, not saved)" : ""}`,
  });
  const open = el("button", {
    type: "button", class: "open", "aria-label": `Open ${item.name} in the editor`,
    onclick: () => openEditor(item.id),
  });
  if (item.image) {
    const img = el("img", { loading: "lazy", src: `/thumb/${item.id}`, alt: item.name });
    img.addEventListener("error", () => img.replaceWith(el("span", { class: "noimg bad", text: "cannot open the image" })));
    open.append(img);
  } else open.append(el("span", { class: "noimg", text: "no image" }));
  const segments = dirty && state.live && state.live.id === item.id ? state.live.segments : item.segments;
  node.append(open, el("div", { class: "body" },
    el("h3", { text: item.key + (dirty ? " — edited" : "") }),
    captionNode(item, segments, item.diagnostics),
    item.diagnostics.length ? diagList(item.diagnostics) : null));
  return node;
}

function redrawCard(id) {
  const old = $("cards").querySelector(`.card[data-id="${id}"]`);
  if (!old) return;
  const fresh = card(state.items[id]);
  fresh.tabIndex = old.tabIndex;
  old.replaceWith(fresh);
}

function cardKeys(event) {
  const cardNode = event.target.closest(".card");
  if (!cardNode) return;
  const all = [...$("cards").querySelectorAll(".card")];
  const at = all.indexOf(cardNode);
  const columns = Math.max(1, all.filter((c) => c.offsetTop === all[0].offsetTop).length);
  let to = null;
  switch (event.key) {
    case "ArrowRight": case "j": to = at + 1; break;
    case "ArrowLeft": case "k": to = at - 1; break;
    case "ArrowDown": to = at + columns; break;
    case "ArrowUp": to = at - columns; break;
    case "Home": to = 0; break;
    case "End": to = all.length - 1; break;
    case "Enter": case " ":
      if (event.target === cardNode) { event.preventDefault(); openEditor(Number(cardNode.dataset.id)); }
      return;
    default: return;
  }
  event.preventDefault();
  if (to === null) return;
  if (to >= all.length && state.drawn < state.shown.length) { drawMore(); return cardKeys(event); }
  to = Math.max(0, Math.min(all.length - 1, to));
  focusCard(all[to]);
}

function focusCard(node) {
  for (const c of $("cards").querySelectorAll('.card[tabindex="0"]')) c.tabIndex = -1;
  node.tabIndex = 0;
  node.focus();
}

// ---- the editor ------------------------------------------------------------------------

async function openEditor(id) {
  state.current = id;
  const item = state.items[id];
  $("editor-title").textContent = item.key;
  const img = $("editor-img");
  const none = $("editor-noimg");
  if (item.image) {
    img.hidden = false; none.hidden = true;
    img.alt = `${item.name}, large`;
    img.src = `/thumb/${id}?size=large`;
    img.onerror = () => { img.hidden = true; none.hidden = false; none.textContent = "cannot open the image"; };
  } else {
    img.hidden = true; none.hidden = false; none.textContent = "no image for this caption";
  }
  $("raw").value = bodyOf(item);
  $("suggestions").replaceChildren();
  if (!$("editor").open) $("editor").showModal();
  await check(bodyOf(item));
  $("raw").focus();
}

function closeEditor() {
  const id = state.current;
  $("editor").close();
  state.current = null;
  if (id !== null) {
    redrawCard(id);
    const node = $("cards").querySelector(`.card[data-id="${id}"]`);
    if (node) focusCard(node);
  }
}

function setBody(body) {
  const item = state.items[state.current];
  if (body === item.body) state.edits.delete(item.id);
  else state.edits.set(item.id, body);
  updateSaveButton();
}

function updateSaveButton() {
  const count = state.edits.size;
  $("save-all").textContent = `Save all (${count})`;
  $("save-all").disabled = count === 0 || Boolean(READ_ONLY);
  if (state.current !== null) {
    $("editor-state").textContent = state.edits.has(state.current) ? "edited, not saved" : "saved";
  }
}

let checkSeq = 0;
async function check(body) {
  const id = state.current;
  const seq = ++checkSeq;
  const data = await api("/api/check", { id, body });
  if (seq !== checkSeq || id !== state.current) return;
  showLive(data);
}

function showLive(data) {
  state.live = data;
  if ($("raw").value !== data.body && document.activeElement !== $("raw")) $("raw").value = data.body;
  setBody(data.body);
  drawChips(data);
  drawEditorDiags(data);
  $("parse-errors").textContent = data.parse_errors.length ? `Does not parse: ${data.parse_errors.join("; ")}` : "";
}

const liveCheck = debounce((body) => check(body).catch((e) => say(e.message, true)), 150);

async function edit(op, args) {
  const body = $("raw").value;
  try {
    const data = await api("/api/edit", { id: state.current, body, op, ...args });
    $("raw").value = data.body;
    showLive(data);
    return data;
  } catch (error) {
    say(error.message, true);
    return null;
  }
}

function drawChips(data) {
  const box = $("chips");
  const focused = document.activeElement;
  const refocus = focused && box.contains(focused) ? focused.dataset.focusKey : null;
  if (focused && focused.classList.contains("nl-edit") && box.contains(focused)) return; // typing in a sentence
  box.replaceChildren();
  const flagged = data.diagnostics.filter((d) => d.start !== null && d.severity !== "info");
  for (const s of data.segments) {
    if (s.kind === "tag") box.append(tagChip(s, flagged));
    else if (s.kind === "nl") box.append(sentenceChip(s));
    else box.append(el("span", { class: "syntax-chip", role: "listitem", title: "weight or other syntax: edit it in the text below", text: s.raw }));
  }
  if (refocus) {
    const again = box.querySelector(`[data-focus-key="${CSS.escape(refocus)}"]`);
    if (again) again.focus();
  }
}

function tagChip(s, flagged) {
  const notes = flagged.filter((d) => d.start < s.end && s.start < d.end);
  const chip = el("span", {
    class: `chip ${cssGroup(s.group)}${notes.length ? " flag" : ""}`, role: "listitem",
    dataset: { index: s.index, tag: s.text },
  });
  const label = el("button", {
    type: "button", class: `label ${cssGroup(s.group)}`, text: s.raw,
    title: [`${s.group} (${s.section})`, ...notes.map((d) => `${d.name}: ${d.message}`)].join("\n"),
    "aria-label": `${s.raw}, ${s.group}${notes.length ? ", " + notes.map((d) => d.name).join(", ") : ""}. Enter to replace, Delete to remove, Alt+arrows to move`,
    dataset: { focusKey: `tag-${s.index}` },
    onclick: () => replaceChip(chip, s),
    onkeydown: (event) => {
      if (event.key === "Delete" || event.key === "Backspace") { event.preventDefault(); removeChip(s); }
      else if (event.altKey && event.key === "ArrowLeft") { event.preventDefault(); moveChip(s, -1); }
      else if (event.altKey && event.key === "ArrowRight") { event.preventDefault(); moveChip(s, 1); }
    },
  });
  chip.append(label,
    el("button", { type: "button", class: "mini", text: "◀", "aria-label": `Move ${s.raw} left`, title: "move left (Alt+←)", onclick: () => moveChip(s, -1) }),
    el("button", { type: "button", class: "mini", text: "▶", "aria-label": `Move ${s.raw} right`, title: "move right (Alt+→)", onclick: () => moveChip(s, 1) }),
    el("button", { type: "button", class: "mini remove", text: "×", "aria-label": `Remove ${s.raw}`, title: "remove (Delete)", onclick: () => removeChip(s) }));
  return chip;
}

async function removeChip(s) {
  await edit("remove", { index: s.index });
  const next = $("chips").querySelector(`[data-focus-key="tag-${s.index}"]`) || $("chips").querySelector(".label");
  if (next) next.focus(); else $("add-tag").focus();
}

async function moveChip(s, step) {
  const data = await edit("move", { index: s.index, step });
  if (!data) return;
  const moved = data.segments.find((x) => x.kind === "tag" && x.raw === s.raw);
  const node = moved && $("chips").querySelector(`[data-focus-key="tag-${moved.index}"]`);
  if (node) node.focus();
}

function replaceChip(chip, s) {
  const listId = `replace-list-${s.index}`;
  const input = el("input", {
    type: "text", role: "combobox", "aria-autocomplete": "list", "aria-expanded": "false",
    "aria-controls": listId, "aria-label": `Replace ${s.raw} with`, autocomplete: "off", spellcheck: "false",
  });
  input.value = s.raw;
  const list = el("ul", { id: listId, role: "listbox", "aria-label": "Tags", hidden: true });
  const combo = el("span", { class: "combo" }, input, list);
  chip.replaceChildren(combo);
  autocomplete(input, list, async (value) => {
    if (value && value !== s.raw) await edit("replace", { index: s.index, tag: value });
    else drawChips(state.live);
    const node = $("chips").querySelector(`[data-focus-key="tag-${s.index}"]`);
    if (node) node.focus();
  }, () => { drawChips(state.live); const node = $("chips").querySelector(`[data-focus-key="tag-${s.index}"]`); if (node) node.focus(); });
  input.focus();
  input.select();
}

function sentenceChip(s) {
  const area = el("textarea", {
    class: "nl-edit", rows: String(Math.min(6, Math.ceil(s.raw.length / 70) || 1)),
    "aria-label": "Sentence (natural language)", spellcheck: "true", dataset: { focusKey: `nl-${s.index}` },
  });
  area.value = s.raw;
  let start = s.start;
  let end = s.end;
  area.addEventListener("input", () => {
    const body = $("raw").value;
    const next = body.slice(0, start) + area.value + body.slice(end);
    end = start + area.value.length;
    $("raw").value = next;
    setBody(next);
    liveCheck(next);
  });
  area.addEventListener("blur", () => { if (state.live) setTimeout(() => drawChips(state.live), 0); });
  return el("span", { class: "nl-chip", role: "listitem" }, area);
}

function drawEditorDiags(data) {
  const list = $("editor-diags");
  list.replaceChildren();
  if (!data.diagnostics.length) list.append(el("li", { text: "No diagnostics." }));
  for (const d of data.diagnostics) {
    const where = d.start !== null ? ` ${d.line}:${d.column}` : "";
    const li = el("li", { class: `sev-${d.severity}` }, el("code", { text: d.name }), `${where} ${d.message}`);
    if (d.dataset) li.append(el("span", { class: "opt-meta", text: " (dataset rule: updated after saving)" }));
    if (d.fix) {
      li.append(el("button", {
        type: "button", class: "fix", dataset: { code: d.code },
        text: `Fix: ${d.fix.message}`,
        title: d.fix.applicability === "safe" ? "safe fix" : `${d.fix.applicability} fix: changes what the model learns`,
        onclick: () => edit("fix", { diagnostic: d.n, code: d.code, start: d.start }),
      }));
    }
    if ((d.code === "TG005" || d.code === "TG007") && d.start !== null && !d.dataset) {
      const seg = data.segments.find((s) => s.kind === "tag" && s.start <= d.start && d.start < s.end);
      if (seg) li.append(el("button", { type: "button", text: "Suggestions…", onclick: () => suggest(seg) }));
    }
    list.append(li);
  }
}

async function suggest(seg) {
  const box = $("suggestions");
  box.replaceChildren(el("span", { text: `Looking up ${seg.raw}…` }));
  const data = await api("/api/suggest", { id: state.current, body: $("raw").value, index: seg.index });
  box.replaceChildren(el("strong", { text: `Instead of ${seg.raw}: ` }));
  if (!data.suggestions.length) box.append("no suggestion");
  for (const s of data.suggestions) {
    box.append(el("button", {
      type: "button", title: s.reason,
      text: s.remove ? `remove it (the caption has ${s.tag})` : `use ${s.tag}`,
      onclick: async () => {
        await edit(s.remove ? "remove" : "replace", { index: seg.index, tag: s.tag });
        box.replaceChildren();
      },
    }), " ");
  }
  const first = box.querySelector("button");
  if (first) first.focus();
}

// ---- autocompletion (ARIA combobox) ----------------------------------------------------

function autocomplete(input, list, onPick, onCancel) {
  let options = [];
  let active = -1;
  let seq = 0;
  const close = () => { list.hidden = true; input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant"); active = -1; };
  const mark = () => {
    [...list.children].forEach((li, i) => li.setAttribute("aria-selected", i === active ? "true" : "false"));
    if (active >= 0) { input.setAttribute("aria-activedescendant", list.children[active].id); list.children[active].scrollIntoView({ block: "nearest" }); }
  };
  const fetchOptions = debounce(async () => {
    const q = input.value.trim();
    const mine = ++seq;
    if (!q) { close(); return; }
    const data = await api(`/api/complete?q=${encodeURIComponent(q)}&limit=12`);
    if (mine !== seq) return;
    options = data.completions;
    list.replaceChildren();
    options.forEach((c, i) => {
      const meta = [c.category, c.post_count !== null ? `${c.post_count.toLocaleString()} posts` : "", c.alias ? `alias ${c.alias}` : ""].filter(Boolean).join(" · ");
      list.append(el("li", {
        id: `${list.id}-${i}`, role: "option", "aria-selected": "false", dataset: { name: c.name },
        onmousedown: (event) => { event.preventDefault(); pick(c.name); },
      }, el("span", { text: c.name }), el("span", { class: "opt-meta", text: meta })));
    });
    active = -1;
    list.hidden = options.length === 0;
    input.setAttribute("aria-expanded", options.length ? "true" : "false");
  }, 80);
  const pick = (value) => { close(); onPick(value); };
  input.addEventListener("input", fetchOptions);
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" && options.length) { event.preventDefault(); active = Math.min(options.length - 1, active + 1); mark(); }
    else if (event.key === "ArrowUp" && options.length) { event.preventDefault(); active = Math.max(0, active - 1); mark(); }
    else if (event.key === "Enter") {
      event.preventDefault();
      const value = active >= 0 && !list.hidden ? options[active].name : input.value.trim();
      pick(value);
    } else if (event.key === "Escape") {
      event.preventDefault(); event.stopPropagation();
      if (!list.hidden) close(); else if (onCancel) onCancel();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
}

// ---- saving, conflicts, undo -----------------------------------------------------------

async function save(changes) {
  if (READ_ONLY) { say(`Not saved: ${READ_ONLY}`, true); return null; }
  if (!changes.length) { say("Nothing to save."); return null; }
  let data;
  try {
    data = await api("/api/save", { changes });
  } catch (error) {
    say(`Not saved: ${error.message}`, true);
    return null;
  }
  for (const item of data.items) {
    state.items[item.id] = item;
    state.edits.delete(item.id);
    if (state.current === item.id) { $("raw").value = item.body; showLive(item); }
    redrawCard(item.id);
  }
  updateSaveButton();
  const parts = [`Saved ${data.written} caption(s)`];
  if (data.run) parts.push(`journal run ${data.run}; Undo last save puts them back`);
  if (data.refused.length) parts.push(`refused: ${data.refused.map((r) => `${r.key}: ${r.reason}`).join("; ")}`);
  say(parts.join(" — "), data.refused.length > 0);
  if (data.conflicts.length) showConflicts(data.conflicts);
  return data;
}

function showConflicts(conflicts) {
  const box = $("conflict-list");
  box.replaceChildren();
  for (const c of conflicts) {
    const keep = el("button", { type: "button", text: "Keep mine (save over the file)", onclick: async () => {
      const [fresh] = (await api("/api/reload", { ids: [c.id] })).items;
      state.items[c.id] = fresh;
      await save([{ id: c.id, body: c.yours }]);
      entry.remove();
      if (!box.children.length) $("conflict").close();
    } });
    const take = el("button", { type: "button", text: "Take the file's text", onclick: async () => {
      const [fresh] = (await api("/api/reload", { ids: [c.id] })).items;
      state.items[c.id] = fresh;
      state.edits.delete(c.id);
      if (state.current === c.id) { $("raw").value = fresh.body; showLive(fresh); }
      redrawCard(c.id);
      updateSaveButton();
      entry.remove();
      if (!box.children.length) $("conflict").close();
    } });
    const entry = el("section", { class: "conflict", dataset: { id: c.id } },
      el("h3", { text: c.key }),
      el("div", { class: "both" },
        el("div", {}, el("strong", { text: "On disk now" }), el("pre", { class: "disk", text: c.disk })),
        el("div", {}, el("strong", { text: "Yours" }), el("pre", { class: "yours", text: c.yours }))),
      el("div", { class: "buttons" }, keep, take));
    box.append(entry);
  }
  $("conflict").showModal();
}

async function undo() {
  let data;
  try {
    data = await api("/api/undo", {});
  } catch (error) {
    say(`Undo failed: ${error.message}`, true);
    return;
  }
  if (!data.run) { say("Nothing to undo in this dataset's journal."); return; }
  for (const item of data.items) {
    state.items[item.id] = item;
    state.edits.delete(item.id);
    if (state.current === item.id) { $("raw").value = item.body; showLive(item); }
    redrawCard(item.id);
  }
  updateSaveButton();
  const refused = data.refused.length ? ` — refused: ${data.refused.join("; ")}` : "";
  say(`Undid run ${data.run} (${data.command}): restored ${data.restored.length} file(s)${refused}`, data.refused.length > 0);
}

// ---- bulk ------------------------------------------------------------------------------

let bulkChanges = [];
function openBulk() {
  $("bulk-count").textContent = String(state.shown.length);
  $("bulk-diff").replaceChildren();
  $("bulk-summary").textContent = "";
  $("bulk-save").disabled = true;
  bulkChanges = [];
  bulkRows();
  $("bulk").showModal();
  $("bulk-action").focus();
}

function bulkRows() {
  const action = $("bulk-action").value;
  $("bulk-tag-row").hidden = action === "fix";
  $("bulk-new-row").hidden = action !== "replace";
  $("bulk-save").disabled = true;
}

async function previewBulk() {
  const action = $("bulk-action").value;
  const payload = {
    action, tag: $("bulk-tag").value.trim(), new: $("bulk-new").value.trim(),
    items: state.shown.map((id) => ({ id, body: bodyOf(state.items[id]) })),
  };
  let data;
  try {
    data = await api("/api/bulk", payload);
  } catch (error) {
    $("bulk-summary").textContent = `Cannot preview: ${error.message}`;
    return;
  }
  bulkChanges = data.changes;
  const diff = $("bulk-diff");
  diff.replaceChildren();
  for (const change of data.changes) {
    for (const line of change.diff.split("\n")) {
      if (!line) continue;
      const cls = line.startsWith("+++") || line.startsWith("---") || line.startsWith("@@") ? "hd" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "";
      diff.append(el("span", { class: cls, text: line }), cls ? "" : "\n");
    }
  }
  $("bulk-summary").textContent = `${data.changes.length} of ${state.shown.length} captions would change.`;
  $("bulk-save").disabled = data.changes.length === 0 || Boolean(READ_ONLY);
  $("bulk-save").textContent = `Save these ${data.changes.length} changes`;
}

async function saveBulk() {
  const changes = bulkChanges.map((c) => ({ id: c.id, body: c.new }));
  $("bulk").close();
  await save(changes);
}

// ---- dataset panels --------------------------------------------------------------------

function thumbButton(id) {
  const item = state.items[id];
  if (!item) return el("span", { text: "?" });
  const button = el("button", { type: "button", "aria-label": `Open ${item.key}`, onclick: () => openEditor(id) });
  if (item.image) button.append(el("img", { loading: "lazy", src: `/thumb/${id}`, alt: item.name }));
  button.append(el("span", { text: item.key }));
  return button;
}

function drawFindings(data) {
  const box = $("findings");
  box.replaceChildren();
  if (!data.findings.length) { box.append(el("p", { text: "No dataset findings." })); return; }
  const order = (f) => (f.code === "DS006" || f.code === "DS003" ? 0 : 1);
  const seen = new Set();
  for (const f of [...data.findings].sort((a, b) => order(a) - order(b))) {
    const pairKey = f.other !== null ? `${f.code}:${Math.min(f.id, f.other)}:${Math.max(f.id, f.other)}:${f.message}` : null;
    if (pairKey && seen.has(pairKey)) continue;
    if (pairKey) seen.add(pairKey);
    const pair = el("div", { class: "pair" }, thumbButton(f.id), f.other !== null ? thumbButton(f.other) : null);
    box.append(el("div", { class: `finding sev-${f.severity}` }, el("code", { text: f.name }), ` ${f.message}`, pair));
  }
}

function drawPolicy(data) {
  if (!data.policy_on) return;
  const box = $("policy");
  box.replaceChildren();
  if (!data.policy.length) { box.append(el("p", { text: "No policy findings." })); return; }
  const byCode = new Map();
  for (const f of data.policy) {
    if (!byCode.has(f.name)) byCode.set(f.name, []);
    byCode.get(f.name).push(f);
  }
  for (const [name, list] of byCode) {
    const head = el("button", { type: "button", text: `${name} × ${list.length} — show`, onclick: () => { $("rule").value = name; applyFilter(); } });
    const ul = el("ul", { class: "diags" });
    for (const f of list.slice(0, 12)) ul.append(el("li", {}, el("a", { href: "#", text: state.items[f.id] ? state.items[f.id].key : String(f.id), onclick: (e) => { e.preventDefault(); openEditor(f.id); } }), ` ${f.message}`));
    box.append(el("div", { class: "finding" }, head, ul));
  }
}

function drawChart(data) {
  const box = $("chart");
  box.replaceChildren();
  const most = data.frequency.length ? data.frequency[0][1] : 1;
  for (const [tag, count, group] of data.frequency) {
    const fill = el("span", { class: "bar-fill" });
    fill.style.width = `${Math.max(1, (100 * count) / most).toFixed(1)}%`;
    box.append(el("button", {
      type: "button", class: "bar", dataset: { filter: tag }, title: `${tag}: in ${count} captions`,
      onclick: () => { $("filter").value = tag; applyFilter(); },
    }, el("span", { class: `bar-label ${cssGroup(group)}`, text: tag }), el("span", { class: "bar-track" }, fill), el("span", { class: "bar-count", text: String(count) })));
  }
}

// ---- wiring ----------------------------------------------------------------------------

function wire() {
  $("filter").addEventListener("input", debounce(() => applyFilter(), 120));
  $("filter").addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") { const first = $("cards").querySelector(".card"); if (first) { event.preventDefault(); focusCard(first); } }
  });
  $("rule").addEventListener("change", () => applyFilter());
  $("group").addEventListener("change", () => applyFilter());
  $("cards").addEventListener("keydown", cardKeys);
  $("cards").addEventListener("click", (event) => {
    const tag = event.target.closest(".tag");
    if (tag) { $("filter").value = tag.dataset.tag; applyFilter(); }
  });
  $("raw").addEventListener("input", () => { setBody($("raw").value); liveCheck($("raw").value); });
  autocomplete($("add-tag"), $("add-tag-list"), async (value) => {
    if (!value) return;
    await edit("add", { tag: value });
    $("add-tag").value = "";
    $("add-tag").focus();
  });
  $("fix-safe").addEventListener("click", () => edit("fix-all", {}));
  $("revert").addEventListener("click", () => { const item = state.items[state.current]; $("raw").value = item.body; check(item.body); });
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  $("close").addEventListener("click", closeEditor);
  $("editor").addEventListener("cancel", (event) => { event.preventDefault(); closeEditor(); });
  $("editor").addEventListener("keydown", (event) => {
    if (event.altKey && event.key === "ArrowDown") { event.preventDefault(); step(1); }
    else if (event.altKey && event.key === "ArrowUp") { event.preventDefault(); step(-1); }
  });
  $("editor-save").addEventListener("click", saveCurrent);
  $("save-all").addEventListener("click", saveAll);
  $("undo").addEventListener("click", undo);
  $("bulk-open").addEventListener("click", openBulk);
  $("bulk-action").addEventListener("change", bulkRows);
  $("bulk-preview").addEventListener("click", previewBulk);
  $("bulk-save").addEventListener("click", saveBulk);
  $("bulk-cancel").addEventListener("click", () => $("bulk").close());
  autocomplete($("bulk-tag"), $("bulk-tag-list"), (value) => { $("bulk-tag").value = value; });
  autocomplete($("bulk-new"), $("bulk-new-list"), (value) => { $("bulk-new").value = value; });
  $("help-open").addEventListener("click", () => $("help").showModal());
  $("help-close").addEventListener("click", () => $("help").close());
  $("conflict-close").addEventListener("click", () => $("conflict").close());
  document.addEventListener("keydown", (event) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName);
    if ((event.ctrlKey || event.metaKey) && event.key === "s") { event.preventDefault(); if (state.current !== null) saveCurrent(); else saveAll(); return; }
    if (typing || document.querySelector("dialog[open]")) return;
    if (event.key === "/") { event.preventDefault(); $("filter").focus(); }
    else if (event.key === "?") { event.preventDefault(); $("help").showModal(); }
    else if (event.key === "b") { event.preventDefault(); openBulk(); }
  });
  window.addEventListener("beforeunload", (event) => { if (state.edits.size) { event.preventDefault(); event.returnValue = ""; } });
}

function step(direction) {
  const at = state.shown.indexOf(state.current);
  const to = state.shown[at + direction];
  if (to !== undefined) { redrawCard(state.current); openEditor(to); }
}

async function saveCurrent() {
  const id = state.current;
  if (id === null) return;
  await save([{ id, body: $("raw").value }]);
}

async function saveAll() {
  await save([...state.edits].map(([id, body]) => ({ id, body })));
}

wire();
loadItems().catch((error) => say(`Cannot load the dataset: ${error.message}`, true));
