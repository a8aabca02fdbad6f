// Boot: the hub's configuration, the session, the shell (header, navigation, live status) and the views.

import "./styles.css";
import { accessToken, api, logout, whenLoggedOut, type Me, type UiConfig } from "./api";
import { fmtClock, h, replace, setTimeZone } from "./dom";
import { code, currentLang, onLangChange, setLang, t } from "./i18n";
import { liveState, onLiveState, startLive, stopLive } from "./live";
import { forgetRefdata } from "./refdata";
import { navigate, onRoute, render, route, type Cleanup, type View } from "./router";
import { navFor, PATHS, session } from "./session";
import { accountView } from "./views/account";
import { alertsView } from "./views/alerts";
import { auditView } from "./views/audit";
import { catalogView } from "./views/catalog";
import { dispatcherView } from "./views/dispatcher";
import { eventDetailView } from "./views/event";
import { eventsView } from "./views/events";
import { handlerView } from "./views/handler";
import { loginView } from "./views/login";
import { overviewView } from "./views/overview";
import { reportView } from "./views/report";
import { supervisorView } from "./views/supervisor";
import { usersView } from "./views/users";

const app = document.getElementById("app") as HTMLElement;
let cleanup: Cleanup | null = null;
let current: { view: View; params: string[] } | null = null;
let clockTimer: number | undefined;

route(/^\/login$/, loginView);
route(/^\/$/, overviewView);
route(/^\/dispatch$/, dispatcherView);
route(/^\/inbox$/, handlerView);
route(/^\/supervise$/, supervisorView);
route(/^\/alerts$/, alertsView);
route(/^\/events$/, eventsView);
route(/^\/events\/(\d+)$/, eventDetailView);
route(/^\/audit$/, auditView);
route(/^\/report$/, reportView);
route(/^\/catalog$/, catalogView);
route(/^\/account$/, accountView);
route(/^\/users$/, usersView);

onRoute((view, params) => void show(view, params));
onLangChange(() => current && void show(current.view, current.params));
whenLoggedOut(() => {
  session.me = null;
  stopLive();
  navigate("/login", true);
});

async function show(view: View, params: string[]): Promise<void> {
  cleanup?.();
  cleanup = null;
  current = { view, params };
  if (view !== loginView && !session.me) {
    navigate("/login", true);
    return;
  }
  if (view === loginView && session.me) {
    navigate(PATHS[navFor(session.me.role)[0]], true);
    return;
  }
  const main = h("main", { id: "main", tabindex: "-1" });
  replace(app, view === loginView ? null : shell(), main);
  const result = await view(main, params);
  if (current?.view === view) cleanup = result ?? null;
  else result?.();
}

function shell(): HTMLElement {
  const me = session.me as Me;
  const nav = navFor(me.role);
  const live = h("span", { class: "live", "data-state": liveState(), title: t("keyboard_hint") });
  const paintLive = () => {
    const s = liveState();
    live.dataset.state = s;
    live.textContent = `● ${t(s === "open" ? "live" : s === "connecting" ? "live_connecting" : "live_off")}`;
  };
  paintLive();
  const off = onLiveState(paintLive);
  const clock = h("time", { class: "clock" }, fmtClock(new Date()));
  window.clearInterval(clockTimer);
  clockTimer = window.setInterval(() => {
    if (!clock.isConnected) {
      off();
      window.clearInterval(clockTimer);
      return;
    }
    clock.textContent = fmtClock(new Date());
  }, 1_000);
  const here = location.pathname;
  return h(
    "header",
    { class: "top" },
    h(
      "div",
      { class: "brand" },
      h("strong", null, session.config?.city?.name ?? "cityhub"),
      h("span", null, t("app_title")),
    ),
    h(
      "nav",
      { "aria-label": "main" },
      nav.map((name, i) =>
        h(
          "a",
          {
            href: PATHS[name],
            "data-link": true,
            "data-nav": name,
            "aria-current": PATHS[name] === here ? "page" : undefined,
            "aria-keyshortcuts": `Alt+${i + 1}`,
          },
          t(name),
        ),
      ),
    ),
    h(
      "div",
      { class: "tools" },
      live,
      clock,
      h(
        "button",
        { type: "button", class: "btn small", on: { click: () => setLang(currentLang() === "zh" ? "en" : "zh") } },
        t("language"),
      ),
      h(
        "a",
        { class: "who", href: "/account", "data-link": true, "data-user": me.username, title: t("my_account") },
        `${me.username} · ${code("role", me.role)}`,
      ),
      h(
        "button",
        {
          type: "button",
          class: "btn small",
          on: {
            click: async () => {
              await logout();
              session.me = null;
              stopLive();
              forgetRefdata();
              navigate("/login");
            },
          },
        },
        t("logout"),
      ),
    ),
  );
}

// Alt+1…9: the role's screens in order.
document.addEventListener("keydown", (e) => {
  if (!e.altKey || !session.me || e.ctrlKey || e.metaKey) return;
  const n = Number(e.key);
  const nav = navFor(session.me.role);
  if (n >= 1 && n <= nav.length) {
    e.preventDefault();
    navigate(PATHS[nav[n - 1]]);
  }
});

async function boot(): Promise<void> {
  performance.mark("boot");
  const [config, me] = await Promise.all([
    api<UiConfig>("/api/v1/dashboard/config", { auth: false }),
    accessToken() ? api<Me>("/api/v1/auth/me").catch(() => null) : Promise.resolve(null),
  ]);
  session.config = config;
  session.me = me;
  setTimeZone(config.timezone);
  if (me) startLive();
  render();
}

void boot().catch((err: unknown) => {
  replace(app, h("p", { class: "error" }, `${t("error")}: ${String(err)}`));
});
