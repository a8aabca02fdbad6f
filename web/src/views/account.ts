// 我的账号: change your password (your other sessions end) and see where you are logged in, ending a
// session you do not recognise or all of them.

import { api, logout } from "../api";
import { sessionTable, type LoginSession } from "../components/sessions";
import { toast } from "../components/toast";
import { stopLive } from "../live";
import { h, replace } from "../dom";
import { t } from "../i18n";
import { navigate } from "../router";
import { session } from "../session";
import { errorText } from "../problems";

export function accountView(root: HTMLElement): void {
  const list = h("div", { class: "list", "data-panel": "sessions" }, t("loading"));
  const loadSessions = async () => {
    try {
      const rows = await api<LoginSession[]>("/api/v1/auth/sessions");
      replace(list, sessionTable(rows, (id) => void end(id)));
    } catch (err) {
      replace(list, errorText(err));
    }
  };
  const end = async (id: number) => {
    try {
      await api(`/api/v1/auth/sessions/${id}`, { method: "DELETE" });
      toast(t("done"));
      await loadSessions();
    } catch (err) {
      toast(errorText(err), "error");
    }
  };

  const current = h("input", { id: "p-current", type: "password", autocomplete: "current-password", required: true });
  const next = h("input", { id: "p-new", type: "password", autocomplete: "new-password", minlength: 8, required: true });
  const again = h("input", { id: "p-again", type: "password", autocomplete: "new-password", minlength: 8, required: true });
  const status = h("p", { class: "form-status", role: "status" });
  const form = h(
    "form",
    {
      class: "password-form",
      on: {
        submit: async (e: Event) => {
          e.preventDefault();
          if (next.value !== again.value) {
            status.textContent = t("passwords_differ");
            again.focus();
            return;
          }
          try {
            await api("/api/v1/auth/password", {
              method: "POST",
              body: { current_password: current.value, new_password: next.value },
            });
            form.reset();
            status.textContent = t("password_changed");
            await loadSessions();
          } catch (err) {
            status.textContent = `${t("failed")}: ${errorText(err)}`;
          }
        },
      },
    },
    h("div", { class: "field" }, h("label", { for: "p-current" }, t("current_password")), current),
    h("div", { class: "field" }, h("label", { for: "p-new" }, t("new_password")), next),
    h("div", { class: "field" }, h("label", { for: "p-again" }, t("new_password_again")), again),
    h("button", { type: "submit", class: "btn primary" }, t("change_password")),
    status,
  );
  const everywhere = h(
    "button",
    {
      type: "button",
      class: "btn",
      "data-action": "logout-everywhere",
      on: {
        click: async () => {
          if (!window.confirm(t("logout_everywhere_confirm"))) return;
          await logout(true).catch(() => undefined);
          session.me = null;
          stopLive();
          navigate("/login", true);
        },
      },
    },
    t("logout_everywhere"),
  );
  root.append(
    h(
      "section",
      { class: "page two" },
      h("div", null, h("h1", null, t("change_password")), form),
      h("div", null, h("h1", null, t("my_sessions")), list, everywhere),
    ),
  );
  void loadSessions();
}
