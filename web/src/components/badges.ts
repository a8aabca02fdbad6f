// Colours are never the only signal: every badge carries a label, and urgency, deadline and warning
// level also a distinct symbol (● ▲ ◆, ◐ ⚠, and I–IV), for colour-blind readers and grey wall screens.

import type { EventOut } from "../api";
import { h } from "../dom";
import { code } from "../i18n";

export const STATUS_COLOURS: Record<string, string> = {
  received: "#8aa4c8",
  dispatched: "#3d8bfd",
  accepted: "#20c5d8",
  in_progress: "#f5a524",
  resolved: "#45c46b",
  closed: "#6b7a8f",
  returned: "#b07cff",
  suspended: "#9aa5b1",
  reopened: "#ff6fb1",
  merged: "#6b7a8f",
  cancelled: "#6b7a8f",
};

export const URGENCY_SYMBOLS: Record<string, string> = { normal: "●", urgent: "▲", critical: "◆" };
// ECharts symbols for the same urgencies, so the map uses the same shapes as the lists.
export const URGENCY_MAP_SYMBOLS: Record<string, string> = {
  normal: "circle",
  urgent: "triangle",
  critical: "diamond",
};

// Sensor health on the map: colour, an ECharts symbol and a text mark each (the mark goes with the label).
export const HEALTH_LOOK: Record<string, { colour: string; symbol: string; mark: string }> = {
  online: { colour: "#3ccf6e", symbol: "roundRect", mark: "✓" },
  stale: { colour: "#f5c542", symbol: "path://M0,0H10V1.5L6,5L10,8.5V10H0V8.5L4,5L0,1.5Z", mark: "◐" },
  alarming: { colour: "#ff4d4f", symbol: "triangle", mark: "⚠" },
  offline: { colour: "#a3adba", symbol: "path://M0,2L2,0L5,3L8,0L10,2L7,5L10,8L8,10L5,7L2,10L0,8L3,5Z", mark: "✕" },
};
export const HEALTH_ORDER = ["alarming", "offline", "stale", "online"];

export const LEVEL_COLOURS: Record<string, string> = {
  red: "#d7191c",
  orange: "#f07800",
  yellow: "#f2c200",
  blue: "#1f6fd1",
  green: "#2e9e44",
};
export const LEVEL_MARKS: Record<string, string> = { red: "Ⅰ", orange: "Ⅱ", yellow: "Ⅲ", blue: "Ⅳ", green: "○" };

export function statusBadge(status: string): HTMLElement {
  return h(
    "span",
    { class: "badge status", style: `--c:${STATUS_COLOURS[status] ?? "#888"}`, "data-status": status },
    code("status", status),
  );
}

export function urgencyBadge(urgency: string): HTMLElement {
  return h(
    "span",
    { class: `badge urgency u-${urgency}`, "data-urgency": urgency },
    h("span", { "aria-hidden": "true" }, URGENCY_SYMBOLS[urgency] ?? "●"),
    " ",
    code("urgency", urgency),
  );
}

/** 突发事件分级 Ⅰ–Ⅳ: the numeral is the signal, the colour follows the warning colours' order. */
export function gradeBadge(grade: string | null): HTMLElement | null {
  if (!grade) return null;
  return h("span", { class: `badge event-grade g-${grade}`, "data-grade": grade }, code("event_grade", grade));
}

export function deadlineBadge(state: string): HTMLElement | null {
  if (state !== "near" && state !== "overdue") return null;
  return h(
    "span",
    { class: `badge deadline d-${state}`, "data-deadline": state },
    h("span", { "aria-hidden": "true" }, state === "overdue" ? "⚠" : "◐"),
    " ",
    code("deadline", state),
  );
}

/** The deadline the event's 临期/超期 state is about, as the hub says (current_deadline: sign-by until a
 * department signs, then resolve-by): its time and its label (签收时限 or 办结时限). Without one (not yet
 * dispatched, or resolved), the resolve-by deadline where there is one. */
export function currentDeadline(e: EventOut): { at: string | null; label: "sign_deadline" | "deadline" } {
  const sign = e.current_deadline === "sign" || (e.current_deadline === null && e.resolve_deadline === null);
  return sign ? { at: e.sign_deadline, label: "sign_deadline" } : { at: e.resolve_deadline, label: "deadline" };
}

export function levelBadge(level: string): HTMLElement {
  return h(
    "span",
    { class: `badge level l-${level}`, style: `--c:${LEVEL_COLOURS[level] ?? "#888"}`, "data-level": level },
    h("span", { class: "mark", "aria-hidden": "true" }, LEVEL_MARKS[level] ?? "?"),
    " ",
    code("level", level),
  );
}

export function unavailable(message: string): HTMLElement {
  return h(
    "div",
    { class: "unavailable", role: "note" },
    h("span", { class: "icon", "aria-hidden": "true" }, "⊘"),
    h("span", null, message),
  );
}
