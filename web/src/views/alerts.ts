// 预警处置台: active alerts by warning colour — acknowledge (确认), clear (解除), follow the linked event.
// Until the hub serves /api/v1/alerts the screen says so instead of showing anything made up.

import { api } from "../api";
import { levelBadge, unavailable } from "../components/badges";
import { toast } from "../components/toast";
import { debounce, fmtTime, h, replace } from "../dom";
import { code, t } from "../i18n";
import { subscribe } from "../live";
import { feature, hasPath } from "../session";
import { errorText } from "../problems";

interface Alert {
  id: number;
  title: string;
  level: string;
  status: string;
  type?: string;
  source?: string;
  count?: number;
  last_seen?: string;
  areas?: Record<string, { name: string }>;
  department?: { name: string } | null;
  event?: { id: number; number: string } | null;
}

const ACK = "/api/v1/alerts/{alert_id}/acknowledge";
const CLEAR = "/api/v1/alerts/{alert_id}/clear";

export function alertsView(root: HTMLElement): () => void {
  const section = h("section", { class: "page" }, h("h1", null, t("alert_console")));
  root.append(section);
  if (!feature("alerts")) {
    section.append(unavailable(t("unavailable_alerts")));
    return () => {};
  }
  const status = h(
    "select",
    { id: "al-status" },
    ["active", "acknowledged", "cleared"].map((s) => h("option", { value: s }, code("alert", s))),
  );
  const list = h("div", { class: "list" }, t("loading"));
  const load = async () => {
    try {
      const body = await api<{ items: Alert[] } | Alert[]>("/api/v1/alerts", { query: { status: status.value, limit: 200 } });
      const items = Array.isArray(body) ? body : body.items;
      replace(list, items.length ? alertTable(items, load) : h("p", { class: "empty" }, t("nothing")));
    } catch (err) {
      replace(list, unavailable(errorText(err)));
    }
  };
  status.addEventListener("change", () => void load());
  section.append(h("div", { class: "filters" }, h("label", { for: "al-status" }, t("status")), status), list);
  void load();
  const refresh = debounce(() => void load(), 800);
  return subscribe((m) => {
    if (m.topic.startsWith("alerts.") || m.topic === "resync") refresh();
  });
}

function alertTable(items: Alert[], reload: () => Promise<void>): HTMLElement {
  const act = async (a: Alert, path: string, note: string | null) => {
    try {
      await api(path.replace("{alert_id}", String(a.id)), { method: "POST", body: { note } });
      toast(`${a.title} · ${t("done")}`);
      await reload();
    } catch (err) {
      toast(`${t("failed")}: ${errorText(err)}`, "error");
    }
  };
  return h(
    "table",
    { class: "alerts" },
    h("thead", null, h("tr", null, [t("level"), t("title"), t("area"), t("status"), t("at"), t("actions")].map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      null,
      items.map((a) =>
        h(
          "tr",
          { "data-alert-id": a.id, "data-level": a.level },
          h("td", null, levelBadge(a.level)),
          h("td", null, a.title, a.count && a.count > 1 ? h("span", { class: "muted" }, ` ×${a.count}`) : null),
          h("td", null, Object.values(a.areas ?? {}).map((x) => x.name).join(" / ") || "—"),
          h("td", null, code("alert", a.status)),
          h("td", null, fmtTime(a.last_seen)),
          h(
            "td",
            { class: "row-actions" },
            a.status === "active" && hasPath(ACK)
              ? h("button", { type: "button", class: "btn small primary", "data-do": "acknowledge", on: { click: () => void act(a, ACK, null) } }, t("acknowledge"))
              : null,
            a.status !== "cleared" && hasPath(CLEAR)
              ? h(
                  "button",
                  {
                    type: "button",
                    class: "btn small",
                    "data-do": "clear",
                    on: { click: () => void act(a, CLEAR, window.prompt(t("reason")) ?? null) },
                  },
                  t("clear"),
                )
              : null,
            a.event ? h("a", { href: `/events/${a.event.id}`, "data-link": true }, `${t("link_event")} ${a.event.number}`) : null,
          ),
        ),
      ),
    ),
  );
}
