// 用户管理 (administrators): everyone who can log in, with their role, department and area; add a user, change
// what they do, disable someone who left (their sessions end at once) or give them a new password.

import { api } from "../api";
import { sessionTable, type LoginSession } from "../components/sessions";
import { toast } from "../components/toast";
import { fmtTime, h, replace } from "../dom";
import { code, t } from "../i18n";
import { getDepartments, type Department } from "../refdata";
import { canRead, session } from "../session";
import { errorText } from "../problems";

interface Ref {
  id: number;
  code: string;
  name: string;
}

interface UserRow {
  id: number;
  username: string;
  display_name: string;
  role: string;
  department: Ref | null;
  area: Ref | null;
  active: boolean;
  locked_until: string | null;
  last_login_at: string | null;
  last_login_address: string | null;
}

const ROLES = ["admin", "dispatcher", "handler", "grid_worker", "supervisor", "data_steward", "citizen", "gateway", "monitor"];

/** The area's id for a code typed by the administrator; null for none. */
async function areaId(value: string): Promise<number | null> {
  const typed = value.trim();
  if (!typed) return null;
  return (await api<{ id: number }>(`/api/v1/areas/${encodeURIComponent(typed)}`)).id;
}

/** A select whose choice a form's reset goes back to (``defaultSelected``), never to its first option. */
function select(name: string, options: [string, string][], selected: string): HTMLSelectElement {
  const el = h(
    "select",
    { name, "aria-label": t(name) },
    options.map(([value, label]) => h("option", { value }, label)),
  );
  for (const option of el.options) option.defaultSelected = option.selected = option.value === selected;
  return el;
}

function roleSelect(selected: string): HTMLSelectElement {
  return select("role", ROLES.map((r) => [r, code("role", r)]), selected);
}

function departmentSelect(departments: Department[], selected: number | null): HTMLSelectElement {
  const options: [string, string][] = [["", "—"], ...departments.map((d): [string, string] => [String(d.id), d.name])];
  return select("department", options, selected === null ? "" : String(selected));
}

export function usersView(root: HTMLElement): void {
  const list = h("div", { class: "list", "data-panel": "users" }, t("loading"));
  let departments: Department[] = [];
  // Many users (a city has hundreds): narrow the table to those whose name, role, department or area match.
  const filter = h("input", { id: "u-filter", type: "search", placeholder: t("filter_users"), "aria-label": t("filter_users") });
  const applyFilter = () => {
    const words = filter.value.trim().toLowerCase();
    for (const tr of list.querySelectorAll<HTMLElement>("tbody tr")) {
      tr.hidden = words !== "" && !(tr.dataset.search ?? "").includes(words);
    }
  };
  filter.addEventListener("input", applyFilter);

  const load = async () => {
    try {
      departments = await getDepartments();
      const rows = await api<UserRow[]>("/api/v1/users");
      replace(
        list,
        h(
          "table",
          { class: "users" },
          h(
            "thead",
            null,
            h("tr", null, [t("username"), t("role"), t("department"), t("area"), t("state"), ""].map((c) => h("th", { scope: "col" }, c))),
          ),
          h("tbody", null, rows.map(row)),
        ),
      );
      applyFilter();
    } catch (err) {
      replace(list, errorText(err));
    }
  };

  const patch = async (user: UserRow, body: Record<string, unknown>, done: string) => {
    try {
      await api(`/api/v1/users/${user.id}`, { method: "PATCH", body });
      toast(`${user.username} · ${done}`);
      await load();
    } catch (err) {
      toast(errorText(err), "error");
    }
  };

  // Someone's sessions, for an administrator who must end them (a lost phone, a leaked password): listed when
  // opened, ended one by one or all at once.
  const sessionsPanel = (u: UserRow): HTMLElement => {
    const box = h("div", { class: "user-sessions" }, t("loading"));
    const load = async () => {
      try {
        const rows = await api<LoginSession[]>(`/api/v1/users/${u.id}/sessions`);
        const all =
          rows.length > 0
            ? h(
                "button",
                {
                  type: "button",
                  class: "btn small",
                  "data-action": "end-all-sessions",
                  on: {
                    click: async () => {
                      if (!window.confirm(`${u.username} · ${t("end_all_sessions_confirm")}`)) return;
                      await end(`/api/v1/users/${u.id}/sessions`);
                    },
                  },
                },
                t("end_all_sessions"),
              )
            : null;
        replace(box, sessionTable(rows, (id) => void end(`/api/v1/users/${u.id}/sessions/${id}`)), all);
      } catch (err) {
        replace(box, errorText(err));
      }
    };
    const end = async (path: string) => {
      try {
        await api(path, { method: "DELETE" });
        toast(`${u.username} · ${t("sessions_ended")}`);
        await load();
      } catch (err) {
        toast(errorText(err), "error");
      }
    };
    const panel = h("details", { class: "sessions-of" }, h("summary", null, t("my_sessions")), box);
    panel.addEventListener("toggle", () => {
      if (panel.open) void load();
    });
    return panel;
  };

  const row = (u: UserRow): HTMLElement => {
    const me = u.username === session.me?.username;
    const role = roleSelect(u.role);
    const department = departmentSelect(departments, u.department?.id ?? null);
    const area = h("input", { name: "area", value: u.area?.code ?? "", size: 15, "aria-label": t("area") });
    const save = h(
      "button",
      {
        type: "button",
        class: "btn small",
        on: {
          click: async () => {
            try {
              await patch(
                u,
                {
                  role: role.value,
                  department_id: department.value ? Number(department.value) : null,
                  area_id: await areaId(area.value),
                },
                t("saved"),
              );
            } catch (err) {
              toast(errorText(err), "error");
            }
          },
        },
      },
      t("save"),
    );
    const password = h("input", {
      type: "password",
      name: "password",
      minlength: 8,
      autocomplete: "new-password",
      placeholder: t("new_password"),
      "aria-label": t("new_password"),
    });
    const reset = h(
      "form",
      {
        class: "inline",
        on: {
          submit: async (e: Event) => {
            e.preventDefault();
            try {
              await api(`/api/v1/users/${u.id}/password`, { method: "POST", body: { password: password.value } });
              password.value = "";
              toast(`${u.username} · ${t("password_reset")}`);
            } catch (err) {
              toast(errorText(err), "error");
            }
          },
        },
      },
      password,
      " ",
      h("button", { type: "submit", class: "btn small" }, t("reset_password")),
    );
    return h(
      "tr",
      {
        "data-username": u.username,
        "data-active": String(u.active),
        "data-search": [u.username, u.display_name, code("role", u.role), u.department?.name, u.area?.name, u.area?.code]
          .filter(Boolean)
          .join(" ")
          .toLowerCase(),
      },
      h("td", null, h("b", null, u.username), h("br"), h("span", { class: "muted" }, u.display_name)),
      h("td", null, me ? code("role", u.role) : role),
      h("td", null, department),
      h("td", null, area, u.area ? h("div", { class: "muted" }, u.area.name) : null),
      h(
        "td",
        null,
        u.active ? h("span", { class: "badge ok" }, t("active")) : h("span", { class: "badge off" }, t("disabled")),
        u.locked_until
          ? [
              " ",
              h("span", { class: "badge locked", title: t("locked_hint") }, `${t("locked_until")} ${fmtTime(u.locked_until)}`),
              " ",
              h(
                "button",
                { type: "button", class: "btn small", "data-action": "unlock", on: { click: () => void patch(u, { unlock: true }, t("unlocked")) } },
                t("unlock"),
              ),
            ]
          : null,
        u.last_login_at
          ? h(
              "div",
              { class: "muted last-login" },
              `${t("last_login")} ${fmtTime(u.last_login_at)}${u.last_login_address ? ` · ${u.last_login_address}` : ""}`,
            )
          : null,
      ),
      h(
        "td",
        { class: "user-actions" },
        save,
        " ",
        me
          ? null
          : h(
              "button",
              {
                type: "button",
                class: "btn small",
                "data-action": u.active ? "disable" : "enable",
                on: { click: () => void patch(u, { active: !u.active }, t(u.active ? "disabled" : "active")) },
              },
              t(u.active ? "disable" : "enable"),
            ),
        " ",
        reset,
        canRead("users.sessions") ? sessionsPanel(u) : null,
      ),
    );
  };

  const username = h("input", { id: "u-name", required: true, maxlength: 60, pattern: "[A-Za-z0-9_.@\\-]+" });
  const displayName = h("input", { id: "u-display", maxlength: 100 });
  const role = roleSelect("dispatcher");
  role.id = "u-role";
  const departmentBox = h("span");
  const area = h("input", { id: "u-area", maxlength: 20, placeholder: "370202" });
  const password = h("input", { id: "u-password", type: "password", required: true, minlength: 8, autocomplete: "new-password" });
  const status = h("p", { class: "form-status", role: "status" });
  const form = h(
    "form",
    {
      class: "user-form",
      on: {
        submit: async (e: Event) => {
          e.preventDefault();
          const department = departmentBox.querySelector("select") as HTMLSelectElement | null;
          try {
            await api("/api/v1/users", {
              method: "POST",
              body: {
                username: username.value.trim(),
                display_name: displayName.value.trim() || null,
                role: role.value,
                department_id: department?.value ? Number(department.value) : null,
                area_id: await areaId(area.value),
                password: password.value,
              },
            });
            toast(`${username.value.trim()} · ${t("done")}`);
            form.reset();
            status.textContent = "";
            await load();
          } catch (err) {
            status.textContent = `${t("failed")}: ${errorText(err)}`;
          }
        },
      },
    },
    h("div", { class: "field" }, h("label", { for: "u-name" }, t("username"), " *"), username),
    h("div", { class: "field" }, h("label", { for: "u-display" }, t("display_name")), displayName),
    h("div", { class: "field" }, h("label", { for: "u-role" }, t("role")), role),
    h("div", { class: "field" }, h("label", null, t("department")), departmentBox),
    h("div", { class: "field" }, h("label", { for: "u-area" }, t("area_code")), area),
    h("div", { class: "field" }, h("label", { for: "u-password" }, t("new_password"), " *"), password),
    h("button", { type: "submit", class: "btn primary" }, t("add_user")),
    status,
  );
  root.append(
    h(
      "section",
      { class: "page users-page" },
      h("h1", null, t("users")),
      h("details", { class: "add-user" }, h("summary", null, t("add_user")), form),
      filter,
      list,
    ),
  );
  void load().then(() => replace(departmentBox, departmentSelect(departments, null)));
}
