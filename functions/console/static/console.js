// The Stratoflow web console: plain JavaScript, no build step, no third-party code.
// It calls this stack's HTTP API with the operator's token, which it keeps in sessionStorage only.
"use strict";

(() => {
  const TOKEN_KEY = "stratoflow.token";
  const LIVE = ["PENDING", "RUNNING", "WAITING", "CANCELLING"];
  const STATUSES = [...LIVE, "COMPLETED", "FAILED", "CANCELLED", "TERMINATED"];
  const REFRESH_MS = 2000;
  const PAGE_SIZE = 25;
  const TREE_LIMIT = 60;
  // The API lives beside the console: /dev/console → /dev/v1/…, /console → /v1/….
  const BASE = location.pathname.replace(/\/console(\/.*)?$/, "");

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ DOM and time helpers

  function h(tag, attrs, ...children) {
    const element = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") element.className = value;
      else if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(element.dataset, value);
      else element.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return element;
  }

  const badge = (status) => h("span", { class: `badge ${status || ""}`, dataset: { status: status || "" } },
    status || "-");
  const compact = (value, limit = 300) => {
    const text = JSON.stringify(value) ?? "null";
    return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
  };

  function span(seconds) {
    const s = Math.abs(seconds);
    if (s < 60) return `${Math.floor(s)}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  }

  function relative(timestamp) {
    if (!timestamp) return "-";
    const seconds = (Date.now() - Date.parse(timestamp)) / 1000;
    if (Math.abs(seconds) < 1) return "just now";
    return seconds >= 0 ? `${span(seconds)} ago` : `in ${span(seconds)}`;
  }

  const time = (timestamp) => h("time", { datetime: timestamp, title: timestamp || "" }, relative(timestamp));

  function countdown(deadline) {
    const seconds = (Date.parse(deadline) - Date.now()) / 1000;
    return seconds > 0 ? `${span(seconds)} left` : "passed";
  }

  // ------------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(`${code}: ${message}`);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(BASE + path, {
        method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new ApiError(0, "UNREACHABLE", `cannot reach the API (${error.message})`);
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(response.status, error.code || `HTTP_${response.status}`,
        error.message || text.slice(0, 200) || response.statusText);
    }
    return data;
  }

  const query = (params) => {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value !== null && value !== undefined && value !== "")
      search.set(key, value);
    const text = search.toString();
    return text ? `?${text}` : "";
  };

  async function allEvents(id, after) {
    const events = [];
    let cursor = after;
    while (cursor !== null) {
      const page = await api("GET", `/v1/workflows/${encodeURIComponent(id)}/events${query({
        afterSequence: cursor, limit: 1000 })}`);
      events.push(...page.events);
      cursor = page.nextAfterSequence;
    }
    return events;
  }

  // ------------------------------------------------------------------ views, refresh and errors

  let view = { generation: 0, timers: [] };

  function newView() {
    view.timers.forEach(clearTimeout);
    view.timers.forEach(clearInterval);
    view = { generation: view.generation + 1, timers: [] };
    return view;
  }

  const current = (v) => v === view;
  const every = (v, ms, fn) => v.timers.push(setInterval(fn, ms));
  const after = (v, ms, fn) => v.timers.push(setTimeout(fn, ms));

  function showError(error) {
    if (error instanceof ApiError && error.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(`The token was refused (${error.code}). Paste a valid one.`);
      return;
    }
    const box = $("error");
    box.textContent = error instanceof ApiError ? error.message : `Error: ${error.message || error}`;
    box.hidden = false;
  }

  const clearError = () => { $("error").hidden = true; };

  function showLogin(message) {
    newView();
    $("app").replaceChildren();
    $("login").hidden = false;
    $("sign-out").hidden = true;
    $("connection").textContent = "";
    if (message) showError(new Error(message));
    $("token-input").focus();
  }

  function route() {
    clearError();
    if (!sessionStorage.getItem(TOKEN_KEY)) {
      showLogin();
      return;
    }
    $("login").hidden = true;
    $("sign-out").hidden = false;
    const token = sessionStorage.getItem(TOKEN_KEY);
    $("connection").textContent = `token …${token.slice(-4)}`;
    const [path, search] = (location.hash.slice(1) || "/workflows").split("?");
    const params = new URLSearchParams(search || "");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    $("nav-workflows").classList.toggle("active", parts[0] !== "batches");
    $("nav-batches").classList.toggle("active", parts[0] === "batches");
    if (parts[0] === "batches") batchesView();
    else if (parts[0] === "workflows" && parts[1]) executionView(parts[1]);
    else listView(params);
  }

  // ------------------------------------------------------------------ the list of executions

  function listView(params) {
    const v = newView();
    const pages = [null];
    let page = 0;
    const status = h("select", { id: "filter-status" }, h("option", { value: "" }, "Any status"),
      STATUSES.map((s) => h("option", { value: s, selected: s === params.get("status") }, s)));
    const kind = h("input", { id: "filter-kind", placeholder: "Kind", value: params.get("kind") || "" });
    const apply = (event) => {
      event.preventDefault();
      location.hash = `#/workflows${query({ status: status.value, kind: kind.value.trim() })}`;
    };
    const body = h("tbody");
    const older = h("button", { id: "page-older", type: "button", disabled: true }, "Older →");
    const newer = h("button", { id: "page-newer", type: "button", disabled: true }, "← Newer");
    const position = h("span", { class: "muted" });

    async function load() {
      try {
        const data = await api("GET", `/v1/workflows${query({
          status: params.get("status"), kind: params.get("kind"), limit: PAGE_SIZE, nextToken: pages[page] })}`);
        if (!current(v)) return;
        clearError();
        body.replaceChildren(...(data.workflows.length ? data.workflows.map((w) => h("tr", {},
          h("td", { class: "mono" }, h("a", { href: `#/workflows/${encodeURIComponent(w.workflowExecutionId)}` },
            w.workflowExecutionId)),
          h("td", {}, w.kind), h("td", {}, w.queue), h("td", {}, badge(w.status)),
          h("td", {}, time(w.createdAt)), h("td", {}, time(w.updatedAt)))) :
          [h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No workflow executions."))]));
        pages.length = page + 1;
        if (data.nextToken) pages.push(data.nextToken);
        older.disabled = !data.nextToken;
        newer.disabled = page === 0;
        position.textContent = `page ${page + 1}`;
      } catch (error) {
        if (current(v)) showError(error);
      }
    }

    older.addEventListener("click", () => { page += 1; load(); });
    newer.addEventListener("click", () => { page = Math.max(0, page - 1); load(); });
    $("app").replaceChildren(h("section", { class: "card" },
      h("h1", {}, "Workflow executions"),
      h("form", { class: "filters", onsubmit: apply }, status, kind,
        h("button", { type: "submit", class: "primary" }, "Filter"),
        h("button", { type: "button", onclick: () => load() }, "Refresh")),
      h("table", { id: "workflow-table" },
        h("thead", {}, h("tr", {}, ["ID", "Kind", "Queue", "Status", "Created", "Updated"].map((c) => h("th", {}, c)))),
        body),
      h("div", { class: "pager" }, newer, older, position)));
    load();
    every(v, 5000, load);
  }

  // ------------------------------------------------------------------ one execution

  function subjectOf(event) {
    const d = event.data || {};
    if (event.type.startsWith("TASK_") && d.taskExecutionId) return `task:${d.taskExecutionId}`;
    if (event.type.startsWith("TIMER_") && d.timerId) return `timer:${d.timerId}`;
    if (event.type.startsWith("CHILD_WORKFLOW_") && d.childWorkflowExecutionId)
      return `child:${d.childWorkflowExecutionId}`;
    return "workflow";
  }

  function cancelRequestOf(events) {
    return events.find((e) => e.type === "CANCELLATION_REQUESTED") || null;
  }

  function executionView(id) {
    const v = newView();
    const state = { execution: null, events: [], mode: "timeline", tree: null };
    const banner = h("div", { id: "banner" });
    const header = h("section", { class: "card", id: "execution" });
    const treeCard = h("section", { class: "card tree", id: "tree", hidden: true });
    const content = h("div", { id: "timeline-content" });
    const tabs = h("div", { class: "tabs" },
      [["timeline", "Timeline"], ["grouped", "Grouped"], ["raw", "Raw JSON"]].map(([mode, label]) =>
        h("button", { type: "button", id: `tab-${mode}`, class: mode === state.mode ? "active" : "",
          onclick: () => { state.mode = mode; renderEvents(); } }, label)),
      h("span", { class: "spacer" }),
      h("button", { type: "button", id: "download", onclick: download }, "Download JSON"));
    $("app").replaceChildren(banner, header, treeCard,
      h("section", { class: "card" }, h("h2", {}, "History"), tabs, content));

    function download() {
      const blob = new Blob([JSON.stringify({ workflow: state.execution, events: state.events }, null, 2)],
        { type: "application/json" });
      const link = h("a", { href: URL.createObjectURL(blob), download: `${id}.json` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    }

    function renderBanner() {
      const e = state.execution;
      const terminated = state.events.find((x) => x.type === "WORKFLOW_TERMINATED");
      const request = cancelRequestOf(state.events);
      if (e.status === "TERMINATED") {
        const data = (terminated && terminated.data) || {};
        banner.replaceChildren(h("div", { class: "banner terminated" },
          h("strong", {}, "Terminated"),
          `by ${data.requestedBy || "?"} `, time(terminated && terminated.createdAt),
          `: ${data.reason || e.terminatedReason || "(no reason)"}`));
        return;
      }
      if (!request) { banner.replaceChildren(); return; }
      const data = request.data || {};
      const deadline = e.cleanupDeadline || data.cleanupDeadline;
      const live = LIVE.includes(e.status);
      banner.replaceChildren(h("div", { class: "banner cancel" },
        h("strong", {}, live ? "Cancellation requested" : `Cancellation requested — ended ${e.status}`),
        `by ${data.requestedBy || "?"} `, time(request.createdAt), `: ${data.reason || "(no reason)"}`,
        deadline ? h("div", {}, "Cleanup deadline: ",
          live ? h("span", { class: "countdown", dataset: { deadline } }, countdown(deadline)) : null,
          ` (${deadline})`) : null));
    }

    function renderHeader() {
      const e = state.execution;
      const live = LIVE.includes(e.status);
      const facts = [
        ["Kind", e.kind], ["Queue", e.queue], ["Created", time(e.createdAt)], ["Updated", time(e.updatedAt)],
      ];
      if (e.parentWorkflowExecutionId) facts.push(["Parent", h("a", {
        href: `#/workflows/${encodeURIComponent(e.parentWorkflowExecutionId)}`, class: "mono" },
      e.parentWorkflowExecutionId), ` (as ${e.childExecutionName})`]);
      if (e.cancelReason) facts.push(["Cancel reason", e.cancelReason]);
      if (e.cleanupDeadline) facts.push(["Cleanup deadline", time(e.cleanupDeadline)]);
      for (const entry of e.cancelOn || []) facts.push(["Cancel on", `${entry.eventType} ${compact(entry.match || {})}`]);
      facts.push(["Input", h("code", {}, compact(e.input, 160))]);
      if (e.status === "COMPLETED") facts.push(["Output", h("code", {}, compact(e.output, 160))]);
      if (e.error) facts.push(["Error", h("code", {}, compact(e.error, 160))]);
      if (e.terminatedReason) facts.push(["Terminated because", e.terminatedReason]);
      header.replaceChildren(
        h("div", { class: "head" }, h("h1", {}, e.workflowExecutionId),
          h("span", { id: "status-badge" }, badge(e.status)),
          live ? h("span", { class: "muted", id: "live" }, "live · refreshing") : null,
          h("span", { class: "actions" },
            h("button", { id: "cancel-button", type: "button", class: "warn", disabled: !live,
              onclick: () => openAction("cancel", id, load) }, "Cancel…"),
            h("button", { id: "terminate-button", type: "button", class: "danger", disabled: !live,
              onclick: () => openAction("terminate", id, load) }, "Terminate…"))),
        h("div", { class: "facts" }, facts.map(([name, value]) => h("div", {}, h("span", {}, name), value))));
    }

    function renderEvents() {
      for (const button of tabs.querySelectorAll("button[id^=tab-]"))
        button.classList.toggle("active", button.id === `tab-${state.mode}`);
      const start = state.events.length ? Date.parse(state.events[0].createdAt) : 0;
      const offset = (event) => `+${span((Date.parse(event.createdAt) - start) / 1000)}`;
      if (state.mode === "raw") {
        content.replaceChildren(h("pre", { class: "raw", id: "raw-json" },
          JSON.stringify({ workflow: state.execution, events: state.events }, null, 2)));
        return;
      }
      if (state.mode === "timeline") {
        content.replaceChildren(h("table", { class: "timeline", id: "timeline" },
          h("thead", {}, h("tr", {}, ["#", "When", "Event", "Data"].map((c) => h("th", {}, c)))),
          h("tbody", {}, state.events.map((event) => h("tr", { dataset: { type: event.type, subject: subjectOf(event) } },
            h("td", { class: "seq" }, event.sequence),
            h("td", { class: "when" }, time(event.createdAt), h("div", { class: "muted" }, offset(event))),
            h("td", { class: "type" }, event.type),
            h("td", { class: "data" }, compact(event.data)))))));
        return;
      }
      // Grouped: one row per task, timer and child (and one for the workflow's own events).
      const groups = new Map();
      for (const event of state.events) {
        const key = subjectOf(event);
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(event);
      }
      const label = (key, events) => {
        const [kind, ...rest] = key.split(":");
        const name = rest.join(":");
        const first = events[0].data || {};
        if (kind === "task") return [h("strong", {}, "Task "), name, first.kind ? ` (${first.kind})` : ""];
        if (kind === "timer") return [h("strong", {}, "Timer "), name,
          first.durationMs ? ` (${span(first.durationMs / 1000)})` : ""];
        if (kind === "child") return [h("strong", {}, "Child "), first.childExecutionName || "", " ",
          h("a", { href: `#/workflows/${encodeURIComponent(name)}` }, name)];
        return [h("strong", {}, "Workflow")];
      };
      content.replaceChildren(h("table", { class: "timeline", id: "grouped" },
        h("thead", {}, h("tr", {}, ["Subject", "Last", "Events", "Took"].map((c) => h("th", {}, c)))),
        h("tbody", {}, [...groups].map(([key, events]) => h("tr", { class: "group-row", dataset: { subject: key } },
          h("td", { class: "subject" }, label(key, events)),
          h("td", { class: "type" }, events[events.length - 1].type),
          h("td", {}, h("div", { class: "chips" }, events.map((event) => h("span", { class: "chip",
            title: `#${event.sequence} ${event.createdAt} ${compact(event.data, 200)}` },
          `${event.type} ${offset(event)}`)))),
          h("td", { class: "when" }, span((Date.parse(events[events.length - 1].createdAt) -
            Date.parse(events[0].createdAt)) / 1000)))))));
    }

    async function childrenOf(executionId, events, depth, budget) {
      const nodes = [];
      for (const event of events.filter((x) => x.type === "CHILD_WORKFLOW_INITIATED")) {
        if (budget.left-- <= 0) break;
        const childId = event.data.childWorkflowExecutionId;
        let child = null;
        let grandchildren = [];
        try {
          child = await api("GET", `/v1/workflows/${encodeURIComponent(childId)}`);
          if (depth > 1) grandchildren = await childrenOf(childId, await allEvents(childId, 0), depth - 1, budget);
        } catch (error) {
          if (!(error instanceof ApiError && error.status === 404)) throw error;
        }
        nodes.push({ id: childId, name: event.data.childExecutionName, kind: event.data.childWorkflowKind,
          status: child ? child.status : null, children: grandchildren });
      }
      return nodes;
    }

    function renderTree(nodes) {
      const list = (items) => h("ul", {}, items.map((node) => h("li", {},
        h("a", { href: `#/workflows/${encodeURIComponent(node.id)}`, class: "mono" }, node.id), " ",
        h("span", { class: "muted" }, `${node.kind} as ${node.name}`), " ", badge(node.status),
        node.children.length ? list(node.children) : null)));
      treeCard.hidden = nodes.length === 0;
      treeCard.replaceChildren(h("h2", {}, "Children"), h("div", { class: "tree" }, list(nodes)));
    }

    async function load() {
      try {
        const execution = await api("GET", `/v1/workflows/${encodeURIComponent(id)}`);
        const last = state.events.length ? state.events[state.events.length - 1].sequence : 0;
        const fresh = await allEvents(id, last);
        if (!current(v)) return;
        // Re-render only what changed, so that buttons under the pointer stay where they are.
        const changed = JSON.stringify(execution) !== JSON.stringify(state.execution) || fresh.length > 0;
        state.execution = execution;
        state.events.push(...fresh);
        clearError();
        if (changed) {
          renderBanner();
          renderHeader();
        }
        if (fresh.length || !content.firstChild) renderEvents();
        if (state.events.some((x) => x.type === "CHILD_WORKFLOW_INITIATED")) {
          const nodes = await childrenOf(id, state.events, 4, { left: TREE_LIMIT });
          if (current(v)) renderTree(nodes);
        }
        if (LIVE.includes(execution.status)) after(v, REFRESH_MS, load);
      } catch (error) {
        if (!current(v)) return;
        showError(error);
        after(v, REFRESH_MS * 2, load);
      }
    }

    load();
  }

  // ------------------------------------------------------------------ cancel and terminate

  function openAction(kind, id, done) {
    const dialog = $("action-dialog");
    const cancel = kind === "cancel";
    $("action-title").textContent = cancel ? "Cancel this workflow execution?" : "Terminate this workflow execution?";
    $("action-help").textContent = cancel
      ? "Its workflow code is asked to cancel and runs its cleanup (compensations, releases) before it ends."
      : "It ends at once: no more workflow code runs, its open tasks and timers are cancelled. Cleanup is skipped.";
    $("action-reason").value = "";
    $("action-reason").required = !cancel;
    $("action-reason-required").hidden = cancel;
    $("action-cascade").checked = true;
    $("action-timeout").value = "";
    $("action-timeout-row").hidden = !cancel;
    $("action-error").hidden = true;
    $("action-confirm").textContent = cancel ? "Cancel execution" : "Terminate execution";
    $("action-confirm").disabled = false;
    $("action-form").onsubmit = async (event) => {
      event.preventDefault();
      const reason = $("action-reason").value.trim();
      const body = { cascade: $("action-cascade").checked };
      if (reason) body.reason = reason;
      if (!cancel && !reason) {
        $("action-error").textContent = "A reason is required.";
        $("action-error").hidden = false;
        return;
      }
      const seconds = $("action-timeout").value;
      if (cancel && seconds) body.cleanupTimeoutMs = Math.round(Number(seconds) * 1000);
      $("action-confirm").disabled = true;
      try {
        await api("POST", `/v1/workflows/${encodeURIComponent(id)}/${kind}`, body);
        dialog.close();
        done();
      } catch (error) {
        $("action-error").textContent = error.message;
        $("action-error").hidden = false;
        $("action-confirm").disabled = false;
      }
    };
    $("action-dismiss").onclick = () => dialog.close();
    dialog.showModal();
    $("action-reason").focus();
  }

  // ------------------------------------------------------------------ batches

  function batchesView() {
    const v = newView();
    const pages = [null];
    let page = 0;
    const body = h("tbody");
    const older = h("button", { type: "button", disabled: true }, "Older →");
    const newer = h("button", { type: "button", disabled: true }, "← Newer");

    async function stop(batchId) {
      if (!window.confirm(`Stop batch ${batchId}? Executions it has not reached yet are left alone.`)) return;
      try {
        await api("POST", `/v1/batches/${encodeURIComponent(batchId)}/stop`, {});
        load();
      } catch (error) {
        showError(error);
      }
    }

    async function load() {
      try {
        const data = await api("GET", `/v1/batches${query({ limit: PAGE_SIZE, nextToken: pages[page] })}`);
        if (!current(v)) return;
        clearError();
        body.replaceChildren(...(data.batches.length ? data.batches.map((b) => {
          const reached = b.succeeded + b.failed + b.skipped;
          return h("tr", { dataset: { batch: b.batchId, status: b.status } },
            h("td", { class: "mono" }, b.batchId),
            h("td", {}, b.operation), h("td", {}, badge(b.status)),
            h("td", {}, h("progress", { max: b.matched || 1, value: b.matched === null ? null : reached }), " ",
              h("span", { class: "progress-text" },
                `${b.succeeded} done / ${b.failed} failed / ${b.skipped} skipped of ${b.matched ?? "?"}`)),
            h("td", {}, b.reason || "-"), h("td", {}, time(b.createdAt)),
            h("td", {}, b.status === "RUNNING" ? h("button", { type: "button", onclick: () => stop(b.batchId) },
              "Stop") : null));
        }) : [h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No batches."))]));
        pages.length = page + 1;
        if (data.nextToken) pages.push(data.nextToken);
        older.disabled = !data.nextToken;
        newer.disabled = page === 0;
        if (data.batches.some((b) => b.status === "RUNNING")) after(v, REFRESH_MS, load);
      } catch (error) {
        if (current(v)) showError(error);
      }
    }

    older.addEventListener("click", () => { page += 1; load(); });
    newer.addEventListener("click", () => { page = Math.max(0, page - 1); load(); });
    $("app").replaceChildren(h("section", { class: "card" },
      h("h1", {}, "Batches"),
      h("p", { class: "muted" }, "Start one with ", h("code", {}, "stratoflow batch start"), "; it shows up here."),
      h("table", { id: "batch-table" },
        h("thead", {}, h("tr", {}, ["ID", "Operation", "Status", "Progress", "Reason", "Created", ""].map((c) =>
          h("th", {}, c)))),
        body),
      h("div", { class: "pager" }, newer, older, h("button", { type: "button", onclick: () => load() }, "Refresh"))));
    load();
  }

  // Relative times and deadlines tick on their own, whatever the view.
  setInterval(() => {
    for (const element of document.querySelectorAll("time[datetime]"))
      element.textContent = relative(element.getAttribute("datetime"));
    for (const element of document.querySelectorAll(".countdown"))
      element.textContent = countdown(element.dataset.deadline);
  }, 1000);

  // ------------------------------------------------------------------ start

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = $("token-input").value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      $("token-input").value = "";
      route();
    });
    $("sign-out").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin();
    });
    window.addEventListener("hashchange", route);
    route();
  });
})();
