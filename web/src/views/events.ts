// Every event the principal may see, with filters and pages (the API applies the access rules).

import { api, events } from "../api";
import { eventTable } from "../components/eventTable";
import { h, newestOnly, replace } from "../dom";
import { code, t } from "../i18n";
import { session } from "../session";
import { errorText } from "../problems";

const STATUSES = ["received", "dispatched", "accepted", "in_progress", "resolved", "closed", "returned", "suspended", "reopened", "merged", "cancelled"];
const PAGE = 50;

export function eventsView(root: HTMLElement): void {
  const status = h("select", { id: "f-status" }, h("option", { value: "" }, t("all")), STATUSES.map((s) => h("option", { value: s }, code("status", s))));
  const deadline = h(
    "select",
    { id: "f-deadline" },
    h("option", { value: "" }, t("all")),
    ["near", "overdue"].map((s) => h("option", { value: s }, code("deadline", s))),
  );
  const grade = h(
    "select",
    { id: "f-grade" },
    h("option", { value: "" }, t("all")),
    h("option", { value: "I,II,III,IV" }, t("graded_any")),
    ["I", "II", "III", "IV"].map((g) => h("option", { value: g }, code("event_grade", g))),
  );
  const district = h("select", { id: "f-district" }, h("option", { value: "" }, t("all")));
  const q = h("input", { id: "f-q", type: "search", maxlength: 100 });
  const result = h("div", { class: "list" });
  const pager = h("div", { class: "pager" });
  let offset = 0;

  const next = newestOnly();
  const load = async () => {
    const current = next();
    replace(result, t("loading"));
    try {
      const page = await events.list({
        status: status.value || undefined,
        deadline_state: deadline.value || undefined,
        grade: grade.value ? grade.value.split(",") : undefined,
        district_id: district.value || undefined,
        q: q.value.trim() || undefined,
        limit: PAGE,
        offset,
      });
      if (!current()) return;
      replace(result, eventTable(page.items, { columns: ["category", "area", "department", "created"] }));
      replace(
        pager,
        h("button", { type: "button", class: "btn small", disabled: offset === 0, on: { click: () => ((offset -= PAGE), void load()) } }, t("prev")),
        h("span", null, ` ${t("total")} ${page.total} ${t("items")} · ${offset + 1}–${Math.min(offset + PAGE, page.total)} `),
        h("button", { type: "button", class: "btn small", disabled: offset + PAGE >= page.total, on: { click: () => ((offset += PAGE), void load()) } }, t("next")),
      );
    } catch (err) {
      if (current()) replace(result, h("p", { class: "error" }, errorText(err)));
    }
  };
  const form = h(
    "form",
    {
      class: "filters",
      on: {
        submit: (e: Event) => {
          e.preventDefault();
          offset = 0;
          void load();
        },
      },
    },
    h("label", { for: "f-status" }, t("status")),
    status,
    h("label", { for: "f-deadline" }, t("deadline")),
    deadline,
    h("label", { for: "f-grade" }, t("event_grade")),
    grade,
    h("label", { for: "f-district" }, t("area")),
    district,
    h("label", { for: "f-q" }, t("search")),
    q,
    h("button", { type: "submit", class: "btn primary" }, t("filter")),
  );
  root.append(h("section", { class: "page" }, h("h1", null, t("events")), form, result, pager));
  void api<{ id: number; name: string }[]>("/api/v1/areas", { query: { level: "district", parent: session.config?.city?.code } })
    .then((areas) => district.append(...areas.map((a) => h("option", { value: a.id }, a.name))))
    .catch(() => undefined);
  void load();
}
