// 一图统揽: the city on one screen — the map in the middle, today's figures and the vital signs on the
// left, departments, hot spots and the live feed on the right. Updates arrive over the live stream.

import { api, events, type EvaluationRow, type MapPayload, type SensorPayload, type Summary } from "../api";
import { HEALTH_LOOK, HEALTH_ORDER, levelBadge, LEVEL_COLOURS, LEVEL_MARKS, unavailable } from "../components/badges";
import { CityMap, type Overlay } from "../components/cityMap";
import { debounce, fmtClock, fmtRecent, h, pct, replace } from "../dom";
import { code, currentLang, t } from "../i18n";
import { subscribe, type LiveMessage } from "../live";
import { canRead, feature, session } from "../session";
import { loadErrorText } from "../problems";

export function overviewView(root: HTMLElement): () => void {
  const cityCode = session.config?.city?.code ?? "";
  const kpis = h("div", { class: "kpis", "data-panel": "summary" }, t("loading"));
  const statusBars = h("div", { class: "status-bars" });
  const vitals = h("div", { "data-panel": "vitals" });
  const ranking = h("div", { "data-panel": "ranking" }, t("loading"));
  const hotspots = h("div", { "data-panel": "hotspots" }, t("loading"));
  const alertsBox = h("div", { "data-panel": "alerts" });
  const feed = h("ol", { class: "feed", "data-panel": "feed", "aria-live": "polite" });
  const crumbs = h("nav", { class: "crumbs", "aria-label": t("area") });
  const areaList = h("div", { class: "area-list", "data-panel": "areas" });
  const mapEl = h("div", { class: "map", id: "city-map", role: "img", "aria-label": t("city_map") });
  const layerBox = h("fieldset", { class: "layers" }, h("legend", null, t("layers")));
  const sensorLegend = h("div", {
    class: "sensor-legend",
    "data-panel": "sensor-legend",
    role: "status",
    "aria-live": "polite",
    "aria-label": t("sensor_legend"),
    hidden: true,
  });

  root.append(
    h(
      "section",
      { class: "overview" },
      h(
        "aside",
        { class: "col left" },
        panel(t("today"), kpis, statusBars),
        panel(t("vital_signs"), vitals),
        panel(t("layer_alerts"), alertsBox),
      ),
      h(
        "div",
        { class: "col center" },
        h("div", { class: "map-bar" }, crumbs, layerBox),
        sensorLegend,
        mapEl,
        areaList,
      ),
      h(
        "aside",
        { class: "col right" },
        panel(t("dept_ranking"), ranking),
        panel(t("hotspots"), hotspots),
        panel(t("live_feed"), feed),
      ),
    ),
  );

  const map = new CityMap(mapEl);
  let summaryArea: string | null = null;
  map.onLoad((payload) => {
    paintCrumbs(crumbs, payload, map);
    paintAreaList(areaList, payload, map);
    summaryArea = payload.area.level === "city" ? null : payload.area.code;
    void loadSummary(kpis, statusBars, summaryArea);
    if (feature("alerts")) void loadAlerts(alertsBox, map); // alerts sit on the areas of this level
    if (feature("sensors") && map.layers.sensors) void loadSensors(map, sensorLegend);
  });
  map.onFailure((err) => replace(areaList, unavailable(loadErrorText(err))));
  paintLayers(layerBox, map, (key, on) => {
    if (key !== "sensors") return;
    if (on) void loadSensors(map, sensorLegend);
    else sensorLegend.hidden = true;
  });
  // The map first; the side panels ask the hub once it is drawn, so they do not compete with it.
  void map.show(cityCode, session.config?.city?.level ?? "city").finally(() => {
    void loadVitals(vitals);
    void loadRanking(ranking);
    void loadHotspots(hotspots);
    if (!feature("alerts")) void loadAlerts(alertsBox, map);
    void loadLatest(feed);
  });

  const refresh = debounce(() => {
    void map.refresh();
    void loadSummary(kpis, statusBars, summaryArea);
  }, 1_200);
  const refreshAlerts = debounce(() => {
    void loadAlerts(alertsBox, map);
    // An alert raised or cleared on a device changes its health.
    if (feature("sensors") && map.layers.sensors) void loadSensors(map, sensorLegend);
  }, 1_200);
  const off = subscribe((m: LiveMessage) => {
    if (m.topic.startsWith("events.")) {
      addFeed(feed, m);
      refresh();
    } else if (m.topic.startsWith("alerts.")) {
      refreshAlerts();
    } else if (m.topic === "resync") {
      refresh();
      refreshAlerts();
    }
  });
  // Health changes with time too (a device that stops reporting turns stale): reload the layer each minute.
  const sensorTimer = window.setInterval(() => {
    if (feature("sensors") && map.layers.sensors && !document.hidden) void loadSensors(map, sensorLegend);
  }, 60_000);
  const keys = (e: KeyboardEvent) => {
    if (e.key === "Escape" && !(e.target as HTMLElement).closest("input,textarea,select")) map.up();
  };
  document.addEventListener("keydown", keys);
  return () => {
    off();
    window.clearInterval(sensorTimer);
    document.removeEventListener("keydown", keys);
    map.dispose();
  };
}

function panel(title: string, ...body: HTMLElement[]): HTMLElement {
  return h("section", { class: "panel" }, h("h2", null, title), ...body);
}

function paintCrumbs(crumbs: HTMLElement, payload: MapPayload, map: CityMap): void {
  const path = payload.path;
  replace(
    crumbs,
    path.map((a, i) =>
      i === path.length - 1
        ? h("span", { "aria-current": "location", class: "here" }, a.name)
        : h("button", { type: "button", class: "linkish", on: { click: () => map.drill(a.code, a.level) } }, a.name),
    ),
    path.length > 1
      ? h("button", { type: "button", class: "btn small", "aria-keyshortcuts": "Escape", on: { click: () => map.up() } }, "↑ ", t("up_level"))
      : null,
    h(
      "span",
      { class: "muted map-total", "data-map-total": payload.events.total },
      `${t("events_on_map")} ${payload.events.total}`,
      payload.events.mode === "cells" ? ` (${t("map_cells")})` : "",
      payload.unlocated ? ` · ${t("unlocated")} ${payload.unlocated}` : "",
    ),
  );
}

function paintAreaList(box: HTMLElement, payload: MapPayload, map: CityMap): void {
  const drillable = payload.child_level !== null && payload.child_level !== "grid";
  const areas = [...payload.areas].sort((a, b) => b.open - a.open || a.code.localeCompare(b.code));
  replace(
    box,
    h("h2", { class: "sr-only" }, t("areas_list")),
    h(
      "ul",
      null,
      areas.map((a) =>
        h(
          "li",
          null,
          h(
            drillable ? "button" : "span",
            {
              type: drillable ? "button" : undefined,
              class: "chip",
              "data-area": a.code,
              on: drillable ? { click: () => map.drill(a.code) } : undefined,
            },
            h("span", { class: "name" }, a.name),
            h("b", null, a.open),
            a.overdue ? h("span", { class: "over", title: t("overdue") }, `⚠${a.overdue}`) : null,
          ),
        ),
      ),
    ),
  );
}

type LayerKey = keyof CityMap["layers"];
const LAYERS_KEY = "cityhub.layers"; // the layers chosen in this tab survive re-renders (language switch)

function rememberedLayers(): Partial<Record<LayerKey, boolean>> {
  try {
    const stored = JSON.parse(sessionStorage.getItem(LAYERS_KEY) ?? "{}") as unknown;
    return stored && typeof stored === "object" ? (stored as Partial<Record<LayerKey, boolean>>) : {};
  } catch {
    return {};
  }
}

function paintLayers(box: HTMLElement, map: CityMap, changed: (key: LayerKey, on: boolean) => void): void {
  // [key, label, served by this hub, on at first] — the sensors are hundreds of markers: on demand.
  const toggles: [LayerKey, string, boolean, boolean][] = [
    ["events", "layer_events", true, true],
    ["heat", "layer_heat", true, true],
    ["alerts", "layer_alerts", feature("alerts"), true],
    ["sensors", "layer_sensors", feature("sensors"), false],
  ];
  const remembered = rememberedLayers();
  for (const [key, label, available, initially] of toggles) {
    const on = available && (remembered[key] ?? initially);
    const input = h("input", {
      type: "checkbox",
      id: `layer-${key}`,
      checked: on,
      disabled: !available,
      on: {
        change: (e: Event) => {
          const checked = (e.target as HTMLInputElement).checked;
          map.setLayers({ [key]: checked });
          sessionStorage.setItem(LAYERS_KEY, JSON.stringify({ ...rememberedLayers(), [key]: checked }));
          changed(key, checked);
        },
      },
    });
    map.layers[key] = on;
    box.append(
      h(
        "label",
        { for: `layer-${key}`, title: available ? "" : t("not_available") },
        input,
        " ",
        t(label),
        available ? "" : ` (${t("not_available")})`,
      ),
    );
  }
}

async function loadSummary(box: HTMLElement, bars: HTMLElement, area: string | null): Promise<void> {
  let s: Summary;
  try {
    s = await api<Summary>("/api/v1/dashboard/summary", { query: { area } });
  } catch (err) {
    replace(box, unavailable(loadErrorText(err)));
    replace(bars);
    return;
  }
  const tile = (key: keyof Summary, label: string, cls = "") =>
    h("div", { class: `kpi ${cls}`, "data-kpi": key }, h("b", null, String(s[key])), h("span", null, label));
  replace(
    box,
    tile("intake_today", t("intake_today")),
    tile("dispatched_today", t("dispatched_today")),
    tile("resolved_today", t("resolved_today")),
    tile("open", t("open_events")),
    tile("overdue", `⚠ ${t("overdue")}`, s.overdue ? "alarm" : ""),
    tile("near", `◐ ${t("near")}`, s.near ? "warn" : ""),
    tile("review_queue", t("review_queue")),
    tile("supervised_open", t("supervised_open")),
  );
  const max = Math.max(1, ...Object.values(s.by_status));
  replace(
    bars,
    Object.entries(s.by_status)
      .sort((a, b) => b[1] - a[1])
      .map(([status, n]) =>
        h(
          "div",
          { class: "bar-row" },
          h("span", null, code("status", status)),
          h("span", { class: "bar", style: `--w:${(n / max) * 100}%` }),
          h("b", null, n),
        ),
      ),
  );
}

async function loadRanking(box: HTMLElement): Promise<void> {
  if (!canRead("reports.read")) {
    replace(box, unavailable(t("no_permission")));
    return;
  }
  const since = new Date(Date.now() - 30 * 86_400_000).toISOString();
  try {
    const report = await api<{ rows: EvaluationRow[] }>("/api/v1/reports/evaluation", {
      query: { group_by: "department", since },
    });
    const rows = report.rows
      .filter((r) => r.volume >= 3)
      .sort(
        (a, b) =>
          (b.resolved_on_time_rate ?? -1) - (a.resolved_on_time_rate ?? -1) ||
          (b.satisfaction_rate ?? -1) - (a.satisfaction_rate ?? -1),
      )
      .slice(0, 10);
    if (rows.length === 0) {
      replace(box, h("p", { class: "empty" }, t("nothing")));
      return;
    }
    replace(
      box,
      h(
        "table",
        { class: "ranking" },
        h(
          "thead",
          null,
          h("tr", null, ["#", t("dept"), t("on_time"), t("satisfaction"), t("volume")].map((c) => h("th", { scope: "col" }, c))),
        ),
        h(
          "tbody",
          null,
          rows.map((r, i) =>
            h(
              "tr",
              null,
              h("td", null, i + 1),
              h("td", { class: "name", title: r.name }, r.name),
              h("td", null, h("span", { class: "meter", style: `--w:${(r.resolved_on_time_rate ?? 0) * 100}%` }), pct(r.resolved_on_time_rate)),
              h("td", null, pct(r.satisfaction_rate)),
              h("td", null, r.volume),
            ),
          ),
        ),
      ),
    );
  } catch (err) {
    replace(box, unavailable(loadErrorText(err)));
  }
}

// Shapes of the sensing APIs are read leniently: they are being built alongside this screen.
type Loose = Record<string, unknown>;

interface LevelOut {
  level: string | null;
  label: string;
  colour: string;
}

interface VitalDomain {
  domain: string;
  level: LevelOut;
  indicators: {
    key: string;
    name_zh: string;
    name_en: string;
    unit: string;
    level: LevelOut;
    value: number | null;
    by_level: Record<string, number>;
  }[];
}

/** 城市体征: per domain its worst warning level, and its indicators with the worst value. */
async function loadVitals(box: HTMLElement): Promise<void> {
  if (!feature("indicators")) {
    replace(box, unavailable(t("unavailable_indicators")));
    return;
  }
  try {
    const body = await api<{ domains: VitalDomain[] }>("/api/v1/indicators/summary");
    if (body.domains.length === 0) {
      replace(box, h("p", { class: "empty" }, t("nothing")));
      return;
    }
    const en = currentLang() === "en";
    replace(
      box,
      h(
        "ul",
        { class: "vitals" },
        body.domains.map((d) =>
          h(
            "li",
            { style: `--c:${d.level.colour}`, "data-level": d.level.level ?? "normal", "data-domain": d.domain },
            h(
              "div",
              { class: "vital-head" },
              h("b", { class: "name" }, code("domain", d.domain)),
              d.level.level ? levelBadge(d.level.level) : h("span", { class: "badge ok" }, "✓ ", t("normal")),
            ),
            h(
              "ul",
              { class: "vital-items" },
              [...d.indicators]
                .sort((a, b) => rank(b.level.level) - rank(a.level.level))
                .slice(0, 3)
                .map((i) =>
                  h(
                    "li",
                    { "data-level": i.level.level ?? "normal" },
                    h("span", null, en ? i.name_en : i.name_zh),
                    h(
                      "span",
                      { class: "value", style: `color:${i.level.level ? i.level.colour : "inherit"}` },
                      i.value === null ? "—" : `${Number(i.value.toFixed(2))} ${i.unit}`,
                      i.level.level ? ` ${LEVEL_MARKS[i.level.level] ?? ""}` : "",
                    ),
                  ),
                ),
            ),
          ),
        ),
      ),
    );
  } catch (err) {
    replace(box, unavailable(loadErrorText(err)));
  }
}

function rank(level: string | null): number {
  return level ? ["green", "blue", "yellow", "orange", "red"].indexOf(level) : -1;
}

interface Hotspot {
  key: string;
  category: string;
  size: number;
  events: number;
  trend: string;
  districts: string[];
  streets: string[];
  representative: { event_id?: number; number?: string; title?: string };
}

const TRENDS: Record<string, string> = { new: "✦", rising: "▲", steady: "●", falling: "▼" };

/** 民生诉求热点: clusters of related reports of the last 7 days, biggest first, with their trend. */
async function loadHotspots(box: HTMLElement): Promise<void> {
  if (!feature("hotspots")) {
    replace(box, unavailable(t("unavailable_hotspots")));
    return;
  }
  if (!canRead("hotspots.read")) {
    replace(box, unavailable(t("no_permission")));
    return;
  }
  try {
    const body = await api<{ items: Hotspot[] }>("/api/v1/hotspots", { query: { days: 7 } });
    if (body.items.length === 0) {
      replace(box, h("p", { class: "empty" }, t("nothing")));
      return;
    }
    replace(
      box,
      h(
        "ol",
        { class: "hotspots" },
        body.items.slice(0, 8).map((x) =>
          h(
            "li",
            { "data-hotspot": x.key, "data-trend": x.trend },
            h("span", { class: `trend t-${x.trend}`, title: x.trend }, TRENDS[x.trend] ?? "●"),
            " ",
            x.representative.event_id
              ? h("a", { href: `/events/${x.representative.event_id}`, "data-link": true }, x.category.split("/").pop())
              : h("span", null, x.category.split("/").pop()),
            h("span", { class: "muted" }, ` ${x.streets[0] ?? x.districts[0] ?? ""}`),
            h("b", { class: "size" }, x.size),
          ),
        ),
      ),
    );
  } catch (err) {
    replace(box, unavailable(loadErrorText(err)));
  }
}

async function loadAlerts(box: HTMLElement, map: CityMap): Promise<void> {
  if (!feature("alerts")) {
    replace(box, unavailable(t("unavailable_alerts")));
    return;
  }
  if (!canRead("alerts.read")) {
    replace(box, unavailable(t("no_permission")));
    return;
  }
  try {
    // The counts follow the map's drill-down, like the markers: a district's alerts on a district's map.
    const shown = map.payload?.area;
    const area = shown && shown.level !== "city" ? shown.code : null;
    const body = await api<{ items: Loose[] }>("/api/v1/alerts", { query: { status: "active", limit: 500, area } });
    const items = body.items;
    const counts = new Map<string, number>();
    for (const a of items) counts.set(String(a.level), (counts.get(String(a.level)) ?? 0) + 1);
    replace(
      box,
      h(
        "div",
        { class: "alert-levels" },
        ["red", "orange", "yellow", "blue"].map((level) =>
          h("div", { class: "kpi", "data-level": level }, h("b", null, counts.get(level) ?? 0), levelBadge(level)),
        ),
      ),
    );
    map.setOverlay(alertOverlay(items, map));
  } catch (err) {
    replace(box, unavailable(loadErrorText(err)));
  }
}

function alertOverlay(items: Loose[], map: CityMap): Overlay {
  const centres = new Map((map.payload?.areas ?? []).map((a) => [a.code, a.center]));
  const points: Overlay["points"] = [];
  for (const a of items) {
    // Alerts are placed by area: at the centre of the area of the map's level that holds them.
    const codes = Object.values((a.areas ?? {}) as Record<string, { code: string }>).map((x) => x.code);
    const centre = codes.map((c) => centres.get(c)).find((c) => c) ?? null;
    const lon = Number(centre?.[0]);
    const lat = Number(centre?.[1]);
    if (!Number.isFinite(lon) || !Number.isFinite(lat)) continue;
    const level = String(a.level);
    points.push({
      lon,
      lat,
      colour: LEVEL_COLOURS[level] ?? "#888",
      symbol: level === "red" ? "diamond" : level === "orange" ? "triangle" : "circle",
      label: `${LEVEL_MARKS[level] ?? ""} ${code("level", level)} · ${String(a.title ?? "")}`,
    });
  }
  return { name: "alerts", points, effect: true };
}

/** The feed starts with the latest reports; the live stream adds every change after that. */
async function loadLatest(feed: HTMLElement): Promise<void> {
  let page: Awaited<ReturnType<typeof events.list>>;
  try {
    page = await events.list({ limit: 12 });
  } catch (err) {
    feed.before(unavailable(loadErrorText(err))); // the feed keeps what the live stream adds
    return;
  }
  for (const e of [...page.items].reverse()) {
    feed.prepend(
      h(
        "li",
        { "data-number": e.number },
        h("time", { datetime: e.created_at }, fmtRecent(e.created_at)),
        " ",
        h("a", { href: `/events/${e.id}`, "data-link": true }, e.number),
        " ",
        h("span", null, e.title),
        h("span", { class: "muted" }, ` · ${code("status", e.status)}`),
      ),
    );
  }
}

/** The sensor layer of the area on the map, and its legend: every state with its mark, name and count. */
async function loadSensors(map: CityMap, legend: HTMLElement): Promise<void> {
  const area = map.payload?.area.code;
  if (!area) return;
  legend.hidden = false;
  try {
    const body = await api<SensorPayload>("/api/v1/sensors", { query: { area } });
    if (map.payload?.area.code !== area) return; // the map moved on meanwhile
    map.setSensors(body);
    paintSensorLegend(legend, body);
  } catch (err) {
    map.setSensors(null);
    replace(legend, unavailable(loadErrorText(err)));
  }
  legend.hidden = !map.layers.sensors;
}

function paintSensorLegend(box: HTMLElement, body: SensorPayload): void {
  const next = h("div");
  replace(
    next,
    h("span", { class: "muted" }, `${t("sensors_on_map")} ${body.sensors.total}`),
    h(
      "ul",
      null,
      HEALTH_ORDER.map((health) =>
        h(
          "li",
          { "data-health": health, style: `--c:${HEALTH_LOOK[health].colour}` },
          h("span", { class: "mark", "aria-hidden": "true" }, HEALTH_LOOK[health].mark),
          ` ${code("health", health)} `,
          h("b", null, body.by_health[health] ?? 0),
        ),
      ),
    ),
    body.sensors.mode === "cells" ? h("span", { class: "muted" }, ` (${t("map_cells")})`) : null,
    body.unlocated ? h("span", { class: "muted" }, ` · ${t("unlocated")} ${body.unlocated}`) : null,
  );
  // The legend is a live region: only a change is announced, not every reload.
  if (next.textContent !== box.textContent) replace(box, [...next.childNodes]);
}

function addFeed(feed: HTMLElement, m: LiveMessage): void {
  const d = m.data as { id?: number; number?: string; action?: string; status?: string };
  const item = h(
    "li",
    { "data-number": d.number ?? "", class: d.action === "create" ? "new" : "" },
    h("time", null, fmtClock(new Date())),
    " ",
    h("a", { href: `/events/${d.id}`, "data-link": true }, d.number ?? `#${d.id}`),
    " ",
    h("span", null, code("action", d.action ?? m.topic.slice(7))),
    d.status ? h("span", { class: "muted" }, ` → ${code("status", d.status)}`) : null,
  );
  feed.prepend(item);
  while (feed.children.length > 30) feed.lastElementChild?.remove();
}
