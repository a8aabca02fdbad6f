// A list of events: the number links to the detail page; with onSelect the row is a choice (workbenches).

import type { EventOut } from "../api";
import { fmtTime, h } from "../dom";
import { t } from "../i18n";
import { navigate } from "../router";
import { currentDeadline, deadlineBadge, gradeBadge, statusBadge, urgencyBadge } from "./badges";

export interface TableOptions {
  onSelect?: (event: EventOut) => void;
  selectedId?: number | null;
  columns?: ("department" | "area" | "deadline" | "created" | "category")[];
  empty?: string;
}

export function eventTable(items: EventOut[], options: TableOptions = {}): HTMLElement {
  const columns = options.columns ?? ["category", "area", "department", "deadline"];
  if (items.length === 0) return h("p", { class: "empty" }, options.empty ?? t("nothing"));
  const head = h(
    "tr",
    null,
    h("th", { scope: "col" }, t("number")),
    h("th", { scope: "col" }, t("title")),
    h("th", { scope: "col" }, t("status")),
    columns.map((c) => h("th", { scope: "col" }, t(columnTitle(c)))),
  );
  const rows = items.map((e) => row(e, columns, options));
  return h("table", { class: "events" }, h("thead", null, head), h("tbody", null, rows));
}

function columnTitle(column: string): string {
  return { department: "department", area: "area", deadline: "time_limit", created: "created_at", category: "category" }[
    column
  ] as string;
}

function row(e: EventOut, columns: string[], options: TableOptions): HTMLElement {
  const select = options.onSelect;
  const numberCell = select
    ? h(
        "button",
        {
          type: "button",
          class: "linkish",
          "aria-pressed": options.selectedId === e.id ? "true" : "false",
          on: { click: () => select(e) },
        },
        e.number,
      )
    : h("a", { href: `/events/${e.id}`, "data-link": true }, e.number);
  const cells: Record<string, HTMLElement> = {
    category: h("td", { class: "muted" }, e.category?.path ?? e.suggestion?.category?.path ?? "—"),
    area: h("td", null, [e.areas.district?.name, e.areas.street?.name].filter(Boolean).join(" / ") || "—"),
    department: h("td", null, e.lead_department?.name ?? "—"),
    deadline: deadlineCell(e),
    created: h("td", null, fmtTime(e.created_at)),
  };
  return h(
    "tr",
    {
      class: options.selectedId === e.id ? "selected" : "",
      "data-event-id": e.id,
      "data-number": e.number,
      on: select
        ? { click: (ev: Event) => ((ev.target as HTMLElement).closest("a") ? undefined : select(e)) }
        : { dblclick: () => navigate(`/events/${e.id}`) },
    },
    h("td", { class: "num" }, numberCell),
    h(
      "td",
      null,
      h("span", { class: "title" }, e.title),
      " ",
      e.urgency !== "normal" ? urgencyBadge(e.urgency) : null,
      gradeBadge(e.grade),
      e.supervised ? h("span", { class: "badge supervised" }, "督") : null,
    ),
    h("td", null, statusBadge(e.status)),
    columns.map((c) => cells[c]),
  );
}

/** The deadline that applies now, named (签收时限 or 办结时限), with the 临期/超期 badge that belongs to it. */
function deadlineCell(e: EventOut): HTMLElement {
  const deadline = currentDeadline(e);
  return h(
    "td",
    { class: "deadline", "data-deadline-kind": deadline.label },
    h("span", { class: "muted" }, t(deadline.label)),
    " ",
    fmtTime(deadline.at),
    " ",
    deadlineBadge(e.deadline_state),
  );
}
