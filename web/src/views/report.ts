// 我的诉求: report a problem (as citizen or grid worker) and follow one's own reports; resolved ones can
// be rated or reopened from their detail page (the API allows exactly that to the reporter).

import { api, events, type EventOut } from "../api";
import { eventTable } from "../components/eventTable";
import { toast } from "../components/toast";
import { h, replace } from "../dom";
import { code, t } from "../i18n";
import { getCategories } from "../refdata";
import { navigate } from "../router";
import { errorText } from "../problems";

export function reportView(root: HTMLElement): void {
  const title = h("input", { id: "r-title", required: true, maxlength: 200 });
  const description = h("textarea", { id: "r-desc", rows: 3, maxlength: 5000 });
  const category = h("input", { id: "r-cat", list: "r-cats", autocomplete: "off" });
  const cats = h("datalist", { id: "r-cats" });
  const urgency = h("select", { id: "r-urgency" }, ["normal", "urgent", "critical"].map((u) => h("option", { value: u }, code("urgency", u))));
  const address = h("input", { id: "r-address", maxlength: 300 });
  const anonymous = h("input", { id: "r-anon", type: "checkbox" });
  const status = h("p", { class: "form-status", role: "status" });
  const mine = h("div", { class: "list" }, t("loading"));
  getCategories().then(
    (rows) => cats.append(...rows.map((c) => h("option", { value: c.path }))),
    () => undefined, // the list only suggests; the hub checks what is typed
  );

  const loadMine = async () => {
    const page = await events.list({ limit: 50 });
    replace(mine, eventTable(page.items, { columns: ["category", "created"] }));
  };
  const form = h(
    "form",
    {
      class: "report-form",
      on: {
        submit: async (e: Event) => {
          e.preventDefault();
          if (!title.value.trim()) {
            title.focus();
            return;
          }
          status.textContent = t("loading");
          try {
            const created = await api<EventOut>("/api/v1/events", {
              method: "POST",
              body: {
                title: title.value.trim(),
                description: description.value.trim(),
                category: category.value.trim() || null,
                urgency: urgency.value,
                address: address.value.trim() || null,
                reporter: { anonymous: anonymous.checked },
              },
            });
            toast(`${created.number} · ${t("done")}`);
            navigate(`/events/${created.id}`);
          } catch (err) {
            status.textContent = `${t("failed")}: ${errorText(err)}`;
          }
        },
      },
    },
    h("div", { class: "field" }, h("label", { for: "r-title" }, t("title"), " *"), title),
    h("div", { class: "field" }, h("label", { for: "r-desc" }, t("description")), description),
    h("div", { class: "field" }, h("label", { for: "r-cat" }, t("category")), category, cats),
    h("div", { class: "field" }, h("label", { for: "r-urgency" }, t("urgency")), urgency),
    h("div", { class: "field" }, h("label", { for: "r-address" }, t("address")), address),
    h("div", { class: "field inline" }, anonymous, h("label", { for: "r-anon" }, t("anonymous"))),
    h("button", { type: "submit", class: "btn primary" }, t("submit")),
    status,
  );
  root.append(
    h(
      "section",
      { class: "page two" },
      h("div", null, h("h1", null, t("report_problem")), form),
      h("div", null, h("h1", null, t("my_reports")), mine),
    ),
  );
  void loadMine().catch(() => replace(mine, t("nothing")));
}
