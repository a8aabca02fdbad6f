// The audit log: who did what, newest first (administrators, supervisors, data stewards).

import { api } from "../api";
import { unavailable } from "../components/badges";
import { fmtTime, h, newestOnly, replace } from "../dom";
import { code, t } from "../i18n";
import { loadErrorText } from "../problems";

interface AuditRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  object_type: string;
  object_id: string;
  changes: Record<string, unknown>;
  purpose: string | null;
  address: string | null;
}

const ACTIONS = [
  "read_personal_data",
  "view_personal_record",
  "create",
  "update",
  "delete",
  "login",
  "logout",
  "login_failed",
  "login_locked",
  "login_throttled",
  "sessions_ended",
  "view_sessions",
  "catalog_shared_read",
  "catalog_shared_refused",
];

export function auditView(root: HTMLElement): void {
  const objectType = h("input", { id: "a-type", maxlength: 40, placeholder: "events" });
  // What an auditor looks for most: who read a person's data in full, and why (read_personal_data).
  const action = h(
    "select",
    { id: "a-action" },
    h("option", { value: "" }, t("all")),
    ACTIONS.map((a) => h("option", { value: a }, code("audit_action", a))),
  );
  const actor = h("input", { id: "a-actor", maxlength: 100 });
  // Where a failed login or a change came from (the client address the request was made from).
  const address = h("input", { id: "a-address", maxlength: 64, size: 15 });
  const result = h("div", { class: "list" });
  const next = newestOnly();
  const load = async () => {
    const current = next();
    replace(result, t("loading"));
    try {
      const rows = await api<AuditRow[]>("/api/v1/audit", {
        query: {
          object_type: objectType.value.trim() || undefined,
          actor: actor.value.trim() || undefined,
          action: action.value || undefined,
          address: address.value.trim() || undefined,
          limit: 200,
        },
      });
      if (!current()) return;
      replace(
        result,
        h(
          "table",
          { class: "audit" },
          h("thead", null, h("tr", null, [t("at"), t("actor"), t("address"), t("action"), t("object"), ""].map((c) => h("th", { scope: "col" }, c)))),
          h(
            "tbody",
            null,
            rows.map((r) =>
              h(
                "tr",
                null,
                h("td", { class: "at" }, fmtTime(r.at)),
                h("td", null, r.actor),
                h("td", { class: "address" }, r.address ?? ""),
                h("td", { "data-action": r.action }, code("audit_action", r.action)),
                h("td", null, `${r.object_type} ${r.object_id}`),
                h("td", { class: "changes" }, r.purpose ?? summarise(r.changes)),
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      if (current()) replace(result, unavailable(loadErrorText(err)));
    }
  };
  root.append(
    h(
      "section",
      { class: "page" },
      h("h1", null, t("audit_log")),
      h(
        "form",
        { class: "filters", on: { submit: (e: Event) => (e.preventDefault(), void load()) } },
        h("label", { for: "a-type" }, t("object")),
        objectType,
        h("label", { for: "a-actor" }, t("actor")),
        actor,
        h("label", { for: "a-address" }, t("address")),
        address,
        h("label", { for: "a-action" }, t("action")),
        action,
        h("button", { type: "submit", class: "btn primary" }, t("filter")),
      ),
      result,
    ),
  );
  void load();
}

function summarise(changes: Record<string, unknown>): string {
  const text = Object.entries(changes)
    .slice(0, 4)
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join("; ");
  return text.length > 160 ? text.slice(0, 157) + "…" : text;
}
