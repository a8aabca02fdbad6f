// Login per role; in demo mode the demo accounts are listed (names and roles, never passwords).

import { login } from "../api";
import { loggedIn } from "../auth";
import { h } from "../dom";
import { code, currentLang, setLang, t } from "../i18n";
import { session } from "../session";
import { errorText } from "../problems";

export function loginView(root: HTMLElement): void {
  const username = h("input", { id: "username", name: "username", autocomplete: "username", required: true });
  const password = h("input", {
    id: "password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const status = h("p", { class: "form-status", role: "alert" });
  const form = h(
    "form",
    {
      class: "login-form",
      on: {
        submit: async (e: Event) => {
          e.preventDefault();
          status.textContent = t("loading");
          try {
            await login(username.value.trim(), password.value);
            await loggedIn();
          } catch (err) {
            status.textContent = `${t("login_failed")}: ${errorText(err)}`;
          }
        },
      },
    },
    h("div", { class: "field" }, h("label", { for: "username" }, t("username")), username),
    h("div", { class: "field" }, h("label", { for: "password" }, t("password")), password),
    h("button", { type: "submit", class: "btn primary" }, t("login")),
    status,
  );
  const demo = session.config?.demo_users ?? [];
  root.append(
    h(
      "section",
      { class: "login" },
      h(
        "div",
        { class: "login-card" },
        h("h1", null, session.config?.city?.name ?? "cityhub", " · ", t("app_title")),
        h(
          "button",
          {
            type: "button",
            class: "btn small lang",
            on: { click: () => setLang(currentLang() === "zh" ? "en" : "zh") },
          },
          t("language"),
        ),
        form,
        demo.length
          ? h(
              "div",
              { class: "demo-users" },
              h("h2", null, t("demo_accounts")),
              h(
                "ul",
                null,
                demo.map((u) =>
                  h(
                    "li",
                    null,
                    h(
                      "button",
                      {
                        type: "button",
                        class: "linkish",
                        "data-demo-user": u.username,
                        on: {
                          click: () => {
                            username.value = u.username;
                            password.focus();
                          },
                        },
                      },
                      u.username,
                    ),
                    h("span", { class: "muted" }, ` ${code("role", u.role)} · ${u.display_name}`),
                  ),
                ),
              ),
            )
          : null,
      ),
    ),
  );
  username.focus();
}
