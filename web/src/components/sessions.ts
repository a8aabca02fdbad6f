// Login sessions as a table: what a session logged in with and from where, where it was last used from, when,
// and a button that ends it. 我的账号 shows one's own; 用户管理 shows anyone's to an administrator.

import { fmtTime, h } from "../dom";
import { t } from "../i18n";

export interface LoginSession {
  id: number;
  started_at: string;
  refreshed_at: string | null;
  client: string | null;
  address: string | null;
  last_address: string | null;
  current: boolean;
}

export function sessionTable(rows: LoginSession[], end: (id: number) => void): HTMLElement {
  if (rows.length === 0) return h("p", { class: "empty" }, t("no_sessions"));
  const where = (s: LoginSession) =>
    s.last_address && s.last_address !== s.address ? `${s.address ?? "—"} → ${s.last_address}` : (s.address ?? "—");
  return h(
    "table",
    { class: "sessions" },
    h(
      "thead",
      null,
      h("tr", null, [t("client"), t("address"), t("started_at"), t("last_used"), ""].map((c) => h("th", { scope: "col" }, c))),
    ),
    h(
      "tbody",
      null,
      rows.map((s) =>
        h(
          "tr",
          { "data-session": String(s.id), "data-current": String(s.current) },
          h("td", null, s.client ?? "—"),
          h("td", { class: "address" }, where(s)),
          h("td", null, fmtTime(s.started_at)),
          h("td", null, fmtTime(s.refreshed_at ?? s.started_at)),
          h(
            "td",
            null,
            s.current
              ? h("span", { class: "badge ok" }, t("this_session"))
              : h("button", { type: "button", class: "btn small", "data-action": "end-session", on: { click: () => end(s.id) } }, t("end_session")),
          ),
        ),
      ),
    ),
  );
}
