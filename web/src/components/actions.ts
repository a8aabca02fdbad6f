// The actions a principal may take on an event: exactly the event's allowed_actions, each a small form.

import { ApiError, api, events, type EventOut } from "../api";
import { h, localInputToIso } from "../dom";
import { code, t } from "../i18n";
import { getCategories, getDepartments } from "../refdata";
import { toast } from "./toast";
import { errorText, loadErrorText } from "../problems";

type Body = Record<string, unknown>;

interface Field {
  name: string;
  label: string;
  kind:
    | "text"
    | "textarea"
    | "datetime"
    | "rating"
    | "department"
    | "departments"
    | "category"
    | "number"
    | "grade";
  required?: boolean;
  min?: number;
}

interface ActionSpec {
  path: string;
  fields: Field[];
  body: (values: Record<string, string | string[]>) => Body | Promise<Body>;
  buttons?: { label: string; extra: Body }[];
}

const GRADES = ["I", "II", "III", "IV"];
const optionalNote: Field = { name: "note", label: "note", kind: "textarea" };
const reason: Field = { name: "reason", label: "reason", kind: "textarea", required: true, min: 2 };
const text = (v: string | string[] | undefined) => (typeof v === "string" && v.trim() ? v.trim() : null);

export const ACTIONS: Record<string, ActionSpec> = {
  dispatch: {
    path: "dispatch",
    fields: [
      { name: "category", label: "category", kind: "category" },
      { name: "department", label: "department", kind: "department" },
      { name: "co_departments", label: "co_departments", kind: "departments" },
      optionalNote,
    ],
    body: (v) => ({
      category: text(v.category),
      department: text(v.department) ? Number(v.department) : null,
      co_departments: Array.isArray(v.co_departments) && v.co_departments.length ? v.co_departments.map(Number) : null,
      note: text(v.note),
    }),
  },
  accept: { path: "accept", fields: [optionalNote], body: (v) => ({ note: text(v.note) }) },
  start: { path: "start", fields: [optionalNote], body: (v) => ({ note: text(v.note) }) },
  note: {
    path: "notes",
    fields: [{ name: "note", label: "note", kind: "textarea", required: true }],
    body: (v) => ({ note: text(v.note) }),
  },
  resolve: {
    path: "resolve",
    fields: [{ name: "resolution", label: "resolution", kind: "textarea", required: true }],
    body: (v) => ({ resolution: text(v.resolution) }),
  },
  return: { path: "return", fields: [reason], body: (v) => ({ reason: text(v.reason) }) },
  request_extension: {
    path: "extension",
    fields: [{ name: "until", label: "until", kind: "datetime", required: true }, reason],
    body: (v) => ({ until: localInputToIso(String(v.until)), reason: text(v.reason) }),
  },
  decide_extension: {
    path: "extension/decision",
    fields: [optionalNote],
    body: (v) => ({ note: text(v.note) }),
    buttons: [
      { label: "approve", extra: { approve: true } },
      { label: "reject", extra: { approve: false } },
    ],
  },
  suspend: { path: "suspend", fields: [reason], body: (v) => ({ reason: text(v.reason) }) },
  resume: { path: "resume", fields: [optionalNote], body: (v) => ({ note: text(v.note) }) },
  supervise: {
    path: "supervise",
    fields: [{ name: "note", label: "note", kind: "textarea", required: true }],
    body: (v) => ({ note: text(v.note) }),
  },
  grade: {
    path: "grade",
    fields: [{ name: "grade", label: "event_grade", kind: "grade" }, reason],
    body: (v) => ({ grade: text(v.grade), reason: text(v.reason) }),
  },
  merge: {
    path: "merge",
    fields: [{ name: "into", label: "merged_into", kind: "text", required: true }, optionalNote],
    body: async (v) => ({ into: await eventIdOf(String(v.into)), note: text(v.note) }),
  },
  cancel: { path: "cancel", fields: [reason], body: (v) => ({ reason: text(v.reason) }) },
  rate: {
    path: "rate",
    fields: [
      { name: "rating", label: "rate", kind: "rating", required: true },
      { name: "comment", label: "note", kind: "text" },
    ],
    body: (v) => ({ rating: Number(v.rating), comment: text(v.comment) }),
  },
  reopen: { path: "reopen", fields: [reason], body: (v) => ({ reason: text(v.reason) }) },
  attach: {
    path: "attachments",
    fields: [
      { name: "filename", label: "title", kind: "text", required: true },
      { name: "url", label: "address", kind: "text" },
    ],
    body: (v) => ({
      filename: text(v.filename),
      url: text(v.url),
      content_type: guessType(String(v.filename)),
      size: 0,
    }),
  },
};

function guessType(filename: string): string {
  const ext = filename.split(".").pop()?.toLowerCase() ?? "";
  return (
    { jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", pdf: "application/pdf", mp3: "audio/mpeg" }[ext] ??
    "application/octet-stream"
  );
}

/** A merge target typed as its number (20261121-000123) or its id. */
async function eventIdOf(value: string): Promise<number> {
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const found = await api<EventOut>(`/api/v1/events/by-number/${encodeURIComponent(v)}`);
  return found.id;
}

/** What an action form hands back: the event as it now is, and whether the action failed. */
export type AfterAction = (current: EventOut, failed: boolean) => void;

// Refusals that mean the event is no longer what the panel shows (someone else signed it first, it moved
// out of reach): the panel is redrawn from the event as it is now. Other failures (a 422 on what was typed)
// keep the form and its input.
const STALE = new Set([403, 404, 409]);

/** Forms for every allowed action; ``onDone`` receives the updated event (after a stale refusal, the current one). */
export function actionPanel(
  event: EventOut,
  onDone: AfterAction,
  options: { only?: string[]; skip?: string[]; open?: string } = {},
): HTMLElement {
  const allowed = event.allowed_actions.filter(
    (a) => ACTIONS[a] && (!options.only || options.only.includes(a)) && !options.skip?.includes(a),
  );
  if (allowed.length === 0) return h("p", { class: "empty" }, t("no_actions"));
  return h(
    "div",
    { class: "actions", role: "group", "aria-label": t("actions") },
    allowed.map((a) => actionForm(event, a, onDone, options.open === a)),
  );
}

function actionForm(event: EventOut, action: string, onDone: AfterAction, open: boolean): HTMLElement {
  const spec = ACTIONS[action];
  const form = h("form", { class: "action-form", novalidate: true });
  const status = h("p", { class: "form-status", role: "status" });
  const inputs = spec.fields.map((f) => fieldInput(f, event));
  const submit = async (extra: Body) => {
    const values: Record<string, string | string[]> = {};
    for (const f of spec.fields) {
      const el = form.elements.namedItem(f.name) as HTMLInputElement | HTMLSelectElement | null;
      if (!el) continue;
      values[f.name] =
        el instanceof HTMLSelectElement && el.multiple
          ? Array.from(el.selectedOptions).map((o) => o.value)
          : el.value;
      if (f.required && !String(values[f.name]).trim()) {
        status.textContent = `${t(f.label)}: ${t("submit")}?`;
        el.focus();
        return;
      }
    }
    status.textContent = t("loading");
    try {
      const updated = await events.act(event.id, spec.path, { ...(await spec.body(values)), ...extra });
      toast(`${event.number} · ${code("action", action)} · ${t("done")}`);
      onDone(updated, false);
    } catch (err) {
      const message = `${t("failed")}: ${errorText(err)}`;
      status.textContent = message;
      if (!(err instanceof ApiError && STALE.has(err.status))) return;
      toast(`${event.number} · ${code("action", action)} · ${message}`, "error");
      const current = await events.get(event.id).catch(() => null);
      if (current) onDone(current, true);
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void submit({});
  });
  const buttons = spec.buttons
    ? spec.buttons.map((b) =>
        h("button", { type: "button", class: "btn", on: { click: () => void submit(b.extra) } }, t(b.label)),
      )
    : [h("button", { type: "submit", class: "btn primary" }, code("action", action))];
  form.append(...inputs, h("div", { class: "buttons" }, buttons), status);
  return h(
    "details",
    { class: "action", "data-action": action, open },
    h("summary", null, code("action", action)),
    form,
  );
}

function fieldInput(field: Field, event: EventOut): HTMLElement {
  const id = `f-${event.id}-${field.name}-${Math.random().toString(36).slice(2, 7)}`;
  const label = h("label", { for: id }, t(field.label), field.required ? " *" : "");
  let input: HTMLElement;
  switch (field.kind) {
    case "textarea":
      input = h("textarea", { id, name: field.name, rows: 2, required: field.required, maxlength: 2000 });
      break;
    case "datetime":
      input = h("input", { id, name: field.name, type: "datetime-local", required: field.required });
      break;
    case "rating":
      input = h(
        "select",
        { id, name: field.name },
        [5, 4, 3, 2, 1].map((n) => h("option", { value: n }, `${n} ${"★".repeat(n)}`)),
      );
      break;
    case "grade":
      input = h(
        "select",
        { id, name: field.name },
        h("option", { value: "" }, t("not_graded")),
        GRADES.map((g) => h("option", { value: g, selected: g === event.grade }, code("event_grade", g))),
      );
      break;
    case "department":
    case "departments":
      input = departmentSelect(id, field, event);
      break;
    case "category":
      input = categoryInput(id, field, event);
      break;
    default:
      input = h("input", { id, name: field.name, type: "text", required: field.required, maxlength: 300 });
  }
  return h("div", { class: "field" }, label, input);
}

function departmentSelect(id: string, field: Field, event: EventOut): HTMLSelectElement {
  const multiple = field.kind === "departments";
  const suggested = event.suggestion?.department?.id ?? event.lead_department?.id ?? null;
  const select = h("select", { id, name: field.name, multiple, size: multiple ? 4 : undefined });
  if (!multiple) select.append(h("option", { value: "" }, "— " + t("suggestion") + " —"));
  getDepartments().then(
    (rows) => {
      for (const d of rows) {
        select.append(h("option", { value: d.id, selected: !multiple && d.id === suggested }, d.name));
      }
    },
    (err: unknown) => select.append(h("option", { value: "", disabled: true }, loadErrorText(err))),
  );
  return select;
}

function categoryInput(id: string, field: Field, event: EventOut): HTMLElement {
  const listId = `${id}-list`;
  const input = h("input", {
    id,
    name: field.name,
    type: "text",
    list: listId,
    value: event.category?.path ?? event.suggestion?.category?.path ?? "",
    autocomplete: "off",
  });
  const list = h("datalist", { id: listId });
  // The list only suggests: without it the path is typed in full, and the hub checks it.
  getCategories().then(
    (rows) => list.append(...rows.map((c) => h("option", { value: c.path }))),
    () => undefined,
  );
  return h("span", { class: "combo" }, input, list);
}
