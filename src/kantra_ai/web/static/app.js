// kantra-ai web app: the little JavaScript on top of server-rendered pages that work without it.
// Drag and drop and Alt+Arrow keys reorder phases; the run page follows the run over server-sent
// events. Every change goes to this server with the page's token in a header.
"use strict";

const token = document.querySelector('meta[name="kantra-token"]').content;

async function post(url, fields) {
  const body = new URLSearchParams(fields);
  const response = await fetch(url, {
    method: "POST",
    headers: { "X-Kantra-Token": token, "Accept": "application/json" },
    body,
    credentials: "same-origin",
  });
  return { status: response.status, data: await response.json() };
}

function showError(text) {
  let box = document.getElementById("error");
  if (!box) {
    box = document.createElement("p");
    box.id = "error";
    box.className = "error";
    box.setAttribute("role", "alert");
    document.querySelector("main").prepend(box);
  }
  box.textContent = text;
}

// -- plan: reorder by drag and drop or Alt+ArrowUp/Down ---------------------------------------------

function setupPhases() {
  const list = document.getElementById("phases");
  if (!list) return;
  let dragged = null;

  async function saveOrder(focusId) {
    const order = [...list.querySelectorAll("li.phase")].map((li) => li.dataset.phaseId);
    const { data } = await post("/plan/edit", { op: "reorder", order: order.join(","), sha: list.dataset.sha });
    if (data.ok) {
      const target = "/plan?notice=" + encodeURIComponent("order saved");
      if (window.location.pathname + window.location.search === target) {
        window.location.hash = focusId || "";
        window.location.reload();
      } else {
        window.location.assign(target + "#" + (focusId || ""));
      }
    } else {
      showError(data.error);
    }
  }

  list.addEventListener("dragstart", (event) => {
    dragged = event.target.closest("li.phase");
    if (!dragged) return;
    dragged.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.dataset.phaseId);
  });
  list.addEventListener("dragover", (event) => {
    if (!dragged) return;
    event.preventDefault();
    const over = event.target.closest("li.phase");
    if (!over || over === dragged) return;
    const box = over.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    over.parentNode.insertBefore(dragged, after ? over.nextSibling : over);
  });
  list.addEventListener("drop", (event) => {
    event.preventDefault();
  });
  list.addEventListener("dragend", () => {
    if (!dragged) return;
    dragged.classList.remove("dragging");
    const id = dragged.dataset.phaseId;
    dragged = null;
    saveOrder(id);
  });
  list.addEventListener("keydown", (event) => {
    const item = event.target;
    if (!event.altKey || !item.matches || !item.matches("li.phase")) return;
    if (event.key === "ArrowUp" && item.previousElementSibling) {
      item.parentNode.insertBefore(item, item.previousElementSibling);
    } else if (event.key === "ArrowDown" && item.nextElementSibling) {
      item.parentNode.insertBefore(item.nextElementSibling, item);
    } else {
      return;
    }
    event.preventDefault();
    saveOrder(item.dataset.phaseId);
  });
  if (window.location.hash) {
    const target = document.getElementById(window.location.hash.slice(1));
    if (target && target.matches("li.phase")) target.focus();
  }
}

// -- run: live progress over server-sent events -----------------------------------------------------

function money(value) {
  if (value === null || value === undefined) return "unknown";
  return value < 1 ? "$" + value.toFixed(4) : "$" + value.toFixed(2);
}

function setText(id, text) {
  const node = document.getElementById(id);
  if (node) node.textContent = text;
}

function render(p) {
  setText("live-state", p.state);
  document.getElementById("live-state").className = "state-" + p.state;
  setText("live-scope", p.scope);
  setText("live-phase", p.phase || "–");
  setText("live-done", p.done);
  setText("live-planned", p.planned);
  setText("live-fixed", p.fixed);
  setText("live-failed", p.failed);
  setText("live-cost", p.cost_known ? money(p.cost) : "unknown");
  setText("live-budget", p.budget === null ? "none" : money(p.budget));
  setText("live-requests", p.requests);
  setText("live-waits", p.rate_limit_waits);
  setText("live-waited", p.waited_seconds);
  setText("live-files", p.in_flight.length ? p.in_flight.join(", ") : "–");
  const bar = document.getElementById("live-bar");
  bar.max = Math.max(p.planned, 1);
  bar.value = p.done;
  const error = document.getElementById("live-error");
  error.textContent = p.error;
  error.hidden = !p.error;
  const result = document.getElementById("live-result");
  result.hidden = p.exit_code === null;
  setText("live-exit", p.exit_code === null ? "" : p.exit_code);
  const notes = document.getElementById("live-notes");
  notes.replaceChildren(...p.notes.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
  document.getElementById("live").dataset.version = p.version;
}

function setupLive() {
  const badge = document.getElementById("run-badge");
  const live = document.getElementById("live");
  if (!window.EventSource) return;
  const source = new EventSource("/events");
  let lastState = badge ? badge.dataset.state : "";
  source.addEventListener("progress", (event) => {
    const p = JSON.parse(event.data);
    if (badge) {
      badge.dataset.state = p.state;
      badge.textContent = "run: " + p.state;
    }
    if (live) render(p);
    const ended = ["finished", "paused", "failed", "cancelled"];
    if (live && ended.includes(p.state) && !ended.includes(lastState) && lastState !== "") {
      // The run ended while the page watched: show the phase states and the store as they are now.
      window.setTimeout(() => window.location.reload(), 300);
    }
    lastState = p.state;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupPhases();
  setupLive();
});
