// The city map of 一图统揽: the hub's own boundaries (no tiles), drilled district → street → grid, with
// layers for open events (colour = status, shape = urgency), the complaint heat map, alerts (by warning
// colour and level mark) and sensors (colour and shape by health: online, stale, alarming, offline).
//
// The server aggregates by zoom level (GET /api/v1/dashboard/map/{code}, GET /api/v1/sensors?area=):
// counts per child area, the open events and the sensors as points (or per cell when there are very
// many) and the heat per cell.

import { api, type AreaCount, type MapPayload, type SensorPayload } from "../api";
import { chartIn, echarts, MUTED, TEXT } from "../charts";
import { fmtTime } from "../dom";
import { code, t } from "../i18n";
import { navigate } from "../router";
import { HEALTH_LOOK, HEALTH_ORDER, STATUS_COLOURS, URGENCY_MAP_SYMBOLS } from "./badges";

export interface Overlay {
  name: string;
  effect?: boolean; // a ripple draws the eye: alerts, not the hundreds of sensors
  points: { lon: number; lat: number; colour: string; symbol: string; label: string; href?: string }[];
}

export interface MapLayers {
  events: boolean;
  heat: boolean;
  alerts: boolean;
  sensors: boolean;
}

const geojsonCache = new Map<string, Promise<unknown>>();

function boundaries(areaCode: string, level: string): Promise<unknown> {
  // Districts and streets are an area's children; a street's grids lie under its communities.
  const path =
    level === "street" || level === "community"
      ? `/api/v1/dashboard/map/${areaCode}/grids.geojson`
      : `/api/v1/areas/${areaCode}/children.geojson`;
  let cached = geojsonCache.get(path);
  if (!cached) {
    // A failed load is forgotten, so the next look at the area asks again.
    cached = api<unknown>(path).catch((err: unknown) => {
      geojsonCache.delete(path);
      throw err;
    });
    geojsonCache.set(path, cached);
  }
  return cached;
}

export class CityMap {
  readonly el: HTMLElement;
  payload: MapPayload | null = null;
  layers: MapLayers = { events: true, heat: true, alerts: false, sensors: false };
  overlays: Overlay[] = [];
  sensors: SensorPayload | null = null;
  private chart: echarts.ECharts;
  private disposeChart: () => void;
  private registered = new Set<string>();
  private listeners: ((payload: MapPayload) => void)[] = [];
  private failureListeners: ((err: unknown) => void)[] = [];
  private loading = 0;

  constructor(el: HTMLElement) {
    this.el = el;
    const { chart, dispose } = chartIn(el);
    this.chart = chart;
    this.disposeChart = dispose;
    chart.on("click", (params) => this.clicked(params as unknown as ClickParams));
  }

  onLoad(listener: (payload: MapPayload) => void): void {
    this.listeners.push(listener);
  }

  /** Told when the latest ``show`` could not load its area (the map keeps what it drew before). */
  onFailure(listener: (err: unknown) => void): void {
    this.failureListeners.push(listener);
  }

  /** Show area ``areaCode`` (boundaries of its next level and the layers). Never rejects: a failed load
   *  sets ``data-map-state="failed"`` and tells the ``onFailure`` listeners. */
  async show(areaCode: string, level?: string): Promise<void> {
    const ticket = ++this.loading;
    this.el.dataset.mapState = "loading";
    let payload: MapPayload;
    let geojson: unknown;
    try {
      // With the level known, the boundaries load alongside the figures.
      const early = level ? boundaries(areaCode, level) : null;
      early?.catch(() => undefined); // awaited below; a failure before that is not an unhandled one
      payload = await api<MapPayload>(`/api/v1/dashboard/map/${areaCode}`);
      performance.mark("map:payload");
      geojson = await (early ?? boundaries(payload.area.code, payload.area.level));
      performance.mark("map:boundaries");
    } catch (err) {
      if (ticket !== this.loading) return;
      this.el.dataset.mapState = "failed";
      for (const listener of this.failureListeners) listener(err);
      return;
    }
    if (ticket !== this.loading) return; // a newer request won
    const mapName = `area-${payload.area.code}`;
    if (!this.registered.has(mapName)) {
      echarts.registerMap(mapName, geojson as Parameters<typeof echarts.registerMap>[1]);
      this.registered.add(mapName);
    }
    this.payload = payload;
    this.draw(mapName, true);
    for (const listener of this.listeners) listener(payload);
  }

  /** Reload the current area's figures (live updates) without touching the boundaries. */
  async refresh(): Promise<void> {
    if (this.payload) await this.show(this.payload.area.code, this.payload.area.level);
  }

  up(): void {
    const path = this.payload?.path ?? [];
    if (path.length > 1) void this.show(path[path.length - 2].code, path[path.length - 2].level);
  }

  drill(childCode: string, level?: string): void {
    void this.show(childCode, level ?? this.payload?.child_level ?? undefined);
  }

  setLayers(layers: Partial<MapLayers>): void {
    this.layers = { ...this.layers, ...layers };
    if (this.payload) this.draw(`area-${this.payload.area.code}`, false);
  }

  /** Replace one overlay (alerts, sensors) and redraw when something changed. */
  setOverlay(overlay: Overlay): void {
    const before = this.overlays.find((o) => o.name === overlay.name);
    if (!before && overlay.points.length === 0) return; // nothing to draw, nothing to take away
    this.overlays = [...this.overlays.filter((o) => o.name !== overlay.name), overlay];
    if (this.payload) this.draw(`area-${this.payload.area.code}`, false);
  }

  /** The sensor layer of the area shown (GET /api/v1/sensors?area=…); null takes it away. */
  setSensors(sensors: SensorPayload | null): void {
    this.sensors = sensors;
    if (this.payload) this.draw(`area-${this.payload.area.code}`, false);
  }

  /** The sensor payload when it belongs to the area on screen. */
  currentSensors(): SensorPayload | null {
    const s = this.sensors;
    return s && this.payload && s.area.code === this.payload.area.code ? s : null;
  }

  dispose(): void {
    this.disposeChart();
  }

  private draw(mapName: string, fresh: boolean): void {
    const payload = this.payload as MapPayload;
    const maxOpen = Math.max(1, ...payload.areas.map((a) => a.open));
    const byName = new Map(payload.areas.map((a) => [a.name, a]));
    const manyAreas = payload.areas.length > 40;
    const series: echarts.EChartsCoreOption[] = [
      {
        type: "map",
        name: "areas",
        geoIndex: 0,
        data: payload.areas.map((a) => ({ name: a.name, value: a.open, code: a.code })),
      },
      ...this.eventSeries(payload),
      ...(this.layers.heat ? this.heatSeries(payload) : []),
      ...(this.layers.sensors ? this.sensorSeries() : []),
      ...this.overlays
        .filter((o) => (o.name === "alerts" ? this.layers.alerts : this.layers.sensors))
        .map((o) => overlaySeries(o)),
    ];
    const sensors = this.layers.sensors ? this.currentSensors() : null;
    const option: echarts.EChartsCoreOption = {
      backgroundColor: "transparent",
      aria: { enabled: true, label: { description: describe(payload, sensors) } },
      animation: false,
      tooltip: {
        trigger: "item",
        confine: true,
        formatter: (p: TooltipParams) => tooltip(p, byName),
      },
      legend: {
        show: this.layers.events && payload.events.mode === "points",
        bottom: 8,
        left: "center",
        textStyle: { color: TEXT, fontSize: 13 },
        itemGap: 14,
        data: [...STATUSES_SHOWN.map((s) => code("status", s)), `⚠ ${code("deadline", "overdue")}`],
      },
      visualMap: [
        {
          type: "continuous",
          seriesIndex: 0,
          min: 0,
          max: maxOpen,
          left: 12,
          bottom: 48,
          itemHeight: 90,
          text: [String(maxOpen), "0"],
          textStyle: { color: MUTED },
          inRange: { color: ["#13294b", "#1d4f91", "#2f7fd8", "#59b2ff"] },
          calculable: false,
        },
      ],
      geo: {
        map: mapName,
        roam: true,
        layoutCenter: ["50%", "48%"],
        layoutSize: "92%",
        label: { show: !manyAreas, color: TEXT, fontSize: manyAreas ? 10 : 13 },
        itemStyle: { areaColor: "#13294b", borderColor: "#6fa8ff", borderWidth: 1 },
        emphasis: { label: { color: "#fff" }, itemStyle: { areaColor: "#2a5ca8" } },
        select: { disabled: true },
      },
      series,
    };
    this.chart.off("finished");
    this.chart.on("finished", () => {
      performance.mark("map:drawn");
      this.el.dataset.mapState = "ready";
      this.el.dataset.points = String(payload.events.total);
      (window as unknown as { __cityhubMap?: unknown }).__cityhubMap = {
        drawnAt: performance.now(),
        area: payload.area.code,
        events: payload.events.total,
        areas: payload.areas.length,
      };
    });
    performance.mark("map:draw");
    this.chart.setOption(option, { notMerge: true, lazyUpdate: false });
    // Set right after the synchronous draw (lazyUpdate is off): in headless Chromium "finished" was not
    // seen again after a layer was switched on, so the sensor count does not wait for it.
    this.el.dataset.sensors = sensors ? String(sensors.sensors.total) : "";
    if (fresh) this.chart.dispatchAction({ type: "restore" });
  }

  private eventSeries(payload: MapPayload): echarts.EChartsCoreOption[] {
    if (!this.layers.events) return [];
    const f = payload.events.fields;
    if (payload.events.mode === "cells") {
      const [lon, lat, count, critical, urgent] = ["lon", "lat", "count", "critical", "urgent"].map((n) => f.indexOf(n));
      return [
        {
          type: "scatter",
          name: "cells",
          coordinateSystem: "geo",
          data: payload.events.rows.map((r) => [r[lon], r[lat], r[count], r[critical], r[urgent]]),
          symbolSize: (v: number[]) => Math.min(40, 4 + Math.sqrt(v[2]) * 2),
          itemStyle: { color: "#f5a524", opacity: 0.8 },
        },
      ];
    }
    const [id, lon, lat, status, urgency, deadline] = ["id", "lon", "lat", "status", "urgency", "deadline_state"].map(
      (n) => f.indexOf(n),
    );
    const codes = payload.events.codes ?? { status: [], urgency: [], deadline_state: [] };
    const decode = (kind: string, value: unknown) =>
      typeof value === "number" ? (codes[kind]?.[value] ?? String(value)) : String(value);
    // One series per status and urgency: a fixed colour and shape each, so ECharts can draw thousands of
    // points in one pass (large mode). Series of one status share its name, so the legend toggles them.
    const groups = new Map<string, unknown[][]>();
    const overdue: unknown[][] = [];
    for (const r of payload.events.rows) {
      const point = [r[lon], r[lat], r[id], decode("urgency", r[urgency]), decode("deadline_state", r[deadline])];
      const key = `${decode("status", r[status])}|${point[3]}`;
      if (!groups.has(key)) groups.set(key, []);
      (groups.get(key) as unknown[][]).push(point);
      if (point[4] === "overdue") overdue.push(point);
    }
    const big = payload.events.total > 3000;
    const series: echarts.EChartsCoreOption[] = [];
    for (const s of STATUSES_SHOWN) {
      for (const u of ["normal", "urgent", "critical"]) {
        const data = groups.get(`${s}|${u}`);
        if (!data) continue;
        series.push({
          type: "scatter",
          name: code("status", s),
          coordinateSystem: "geo",
          data,
          symbol: URGENCY_MAP_SYMBOLS[u],
          symbolSize: big ? (u === "normal" ? 4 : 7) : u === "normal" ? 9 : 13,
          itemStyle: { color: STATUS_COLOURS[s], borderColor: "#0b1a30", borderWidth: big ? 0 : 1 },
          large: big,
          largeThreshold: 300, // per series: each holds one status and urgency of the thousands
          progressive: 0, // draw every point in one pass: the screen is complete when it says so
          emphasis: { scale: 1.6 },
          z: 4,
        });
      }
    }
    if (overdue.length) {
      // Overdue events get a red ring, a second cue besides the colour of their status.
      series.push({
        type: "scatter",
        name: `⚠ ${code("deadline", "overdue")}`,
        coordinateSystem: "geo",
        data: overdue,
        symbol: "emptyCircle",
        symbolSize: big ? 8 : 18,
        itemStyle: { color: "#ff3b3b", borderWidth: 2 },
        large: big,
        progressive: 0,
        silent: big,
        z: 5,
      });
    }
    return series;
  }

  private sensorSeries(): echarts.EChartsCoreOption[] {
    const s = this.currentSensors();
    if (!s) return [];
    const f = s.sensors.fields;
    const at = (name: string) => f.indexOf(name);
    const base = { city: 11, district: 12, street: 14, community: 14, grid: 15 }[s.area.level] ?? 12;
    // Drawn in reverse order of concern, so an alarming device lies on top of a healthy one next to it.
    const order = [...HEALTH_ORDER].reverse();
    if (s.sensors.mode === "cells") {
      // Per cell: the worst state in it gives the colour and shape; the size grows with the count.
      const groups = new Map<string, number[][]>();
      for (const r of s.sensors.rows as number[][]) {
        const worst = HEALTH_ORDER.find((h) => r[at(h)] > 0) ?? "online";
        const row = [r[at("lon")], r[at("lat")], r[at("count")], ...HEALTH_ORDER.map((h) => r[at(h)])];
        if (!groups.has(worst)) groups.set(worst, []);
        (groups.get(worst) as number[][]).push(row);
      }
      return order
        .filter((h) => groups.has(h))
        .map((h, i) => ({
          type: "scatter",
          name: `sensors:${h}`,
          coordinateSystem: "geo",
          data: groups.get(h),
          symbol: HEALTH_LOOK[h].symbol,
          symbolSize: (v: number[]) => Math.min(30, base + Math.sqrt(v[2]) * 2),
          itemStyle: { color: HEALTH_LOOK[h].colour, borderColor: "#0b1a30", borderWidth: 1 },
          tooltip: {
            formatter: (p: { value: number[] }) =>
              `${t("sensors_on_map")}: ${p.value[2]}<br>${HEALTH_ORDER.map(
                (x, j) => `${HEALTH_LOOK[x].mark} ${code("health", x)} ${p.value[3 + j]}`,
              ).join(" · ")}`,
          },
          z: 7 + i / 10,
        }));
    }
    const health = s.sensors.codes?.health ?? [];
    const kinds = s.sensors.codes?.kind ?? [];
    // Devices are often registered at the same point (a building, a grid's centre): those are fanned
    // out around it (a sunflower of pixel offsets), so every one of them can be seen and pointed at.
    const stacked = new Map<string, number>();
    const groups = new Map<string, { value: unknown[]; symbolOffset: number[] }[]>();
    for (const r of s.sensors.rows) {
      const h = health[r[at("health")] as number] ?? "offline";
      const kind = kinds[r[at("kind")] as number] ?? "";
      const point = [r[at("lon")], r[at("lat")], r[at("code")], r[at("name")], s.kinds[kind] ?? kind, r[at("last")]];
      const spot = `${point[0]},${point[1]}`;
      const k = stacked.get(spot) ?? 0;
      stacked.set(spot, k + 1);
      const radius = base * 0.8 * Math.sqrt(k);
      const angle = k * 2.39996; // the golden angle, in radians
      if (!groups.has(h)) groups.set(h, []);
      groups.get(h)?.push({
        value: point,
        symbolOffset: [Math.round(radius * Math.cos(angle)), Math.round(radius * Math.sin(angle))],
      });
    }
    return order
      .filter((h) => groups.has(h))
      .map((h, i) => ({
        type: "scatter",
        name: `sensors:${h}`,
        coordinateSystem: "geo",
        data: groups.get(h),
        symbol: HEALTH_LOOK[h].symbol,
        symbolSize: h === "alarming" ? base + 4 : base,
        itemStyle: { color: HEALTH_LOOK[h].colour, borderColor: "#0b1a30", borderWidth: 1 },
        emphasis: { scale: 1.5 },
        progressive: 0,
        tooltip: {
          formatter: (p: { value: unknown[] }) => {
            const [, , deviceCode, name, kind, last] = p.value;
            const when = typeof last === "number" ? fmtTime(new Date(last * 1000).toISOString()) : t("never_reported");
            return `${HEALTH_LOOK[h].mark} ${code("health", h)} · <b>${escapeHtml(String(name))}</b><br>${escapeHtml(
              String(deviceCode),
            )} · ${escapeHtml(String(kind))}<br>${t("last_reading")}: ${when}`;
          },
        },
        z: 7 + i / 10,
      }));
  }

  private heatSeries(payload: MapPayload): echarts.EChartsCoreOption[] {
    // Four intensity classes of translucent discs, one large-mode series each (thousands of cells draw in
    // one pass). ECharts' own heat-map series recolours every pixel of the canvas on each draw: half a
    // second at 1920×1080 without a GPU.
    const rows = payload.heat.rows;
    if (rows.length === 0) return [];
    const counts = rows.map((r) => r[2]).sort((a, b) => a - b);
    const at = (q: number) => counts[Math.min(counts.length - 1, Math.floor(q * counts.length))];
    const bounds = [at(0.5), at(0.8), at(0.95)];
    const classOf = (n: number) => bounds.filter((b) => n > b).length;
    const base = { city: 9, district: 14, street: 18, community: 18, grid: 18 }[payload.area.level] ?? 12;
    const classes = HEAT_CLASSES.map((style, i) => ({ style, i, data: rows.filter((r) => classOf(r[2]) === i) }));
    // An empty large-mode series breaks ECharts' painter: only classes that have cells.
    return classes.filter((c) => c.data.length > 0).map(({ style, i, data }) => ({
      type: "scatter",
      name: "heat",
      coordinateSystem: "geo",
      data,
      symbol: "circle",
      symbolSize: base * style.scale,
      itemStyle: { color: style.colour, opacity: style.opacity },
      large: true,
      largeThreshold: 0,
      progressive: 0,
      silent: true,
      z: 2 + i / 10,
    }));
  }

  private clicked(params: ClickParams): void {
    const payload = this.payload;
    if (!payload) return;
    const eventMarker =
      params.seriesType === "scatter" &&
      Array.isArray(params.value) &&
      typeof params.value[2] === "number" &&
      params.seriesName !== "cells" &&
      params.seriesName !== "heat" &&
      !params.seriesName?.startsWith("sensors:");
    if (eventMarker) {
      navigate(`/events/${(params.value as unknown[])[2]}`);
      return;
    }
    if (params.seriesType === "scatter" || params.seriesType === "effectScatter") return;
    if (params.componentType === "geo" || params.seriesType === "map") {
      const area = payload.areas.find((a) => a.name === params.name);
      if (area && payload.child_level && payload.child_level !== "grid") this.drill(area.code);
    }
  }
}

const HEAT_CLASSES = [
  { colour: "#ffd84d", opacity: 0.45, scale: 1 },
  { colour: "#ffae3d", opacity: 0.55, scale: 1.3 },
  { colour: "#ff7430", opacity: 0.65, scale: 1.6 },
  { colour: "#ff3b1f", opacity: 0.8, scale: 1.9 },
];

const STATUSES_SHOWN = ["received", "returned", "reopened", "dispatched", "accepted", "in_progress", "suspended", "resolved"];

interface ClickParams {
  componentType: string;
  seriesType?: string;
  seriesName?: string;
  name: string;
  value: unknown;
}

interface TooltipParams {
  componentType: string;
  seriesType?: string;
  seriesName?: string;
  name: string;
  value: unknown;
}

function tooltip(p: TooltipParams, byName: Map<string, AreaCount>): string {
  if (p.seriesType === "scatter" && Array.isArray(p.value) && p.seriesName !== "cells") {
    const v = p.value as unknown[];
    return `#${v[2]} · ${p.seriesName}<br>${code("urgency", String(v[3]))}${
      v[4] !== "normal" ? " · " + code("deadline", String(v[4])) : ""
    }`;
  }
  if (p.seriesName === "cells" && Array.isArray(p.value)) return `${t("events_on_map")}: ${(p.value as number[])[2]}`;
  if (p.seriesName === "heat" && Array.isArray(p.value)) return `${t("layer_heat")}: ${(p.value as number[])[2]}`;
  const area = byName.get(p.name);
  if (!area) return p.name;
  const statuses = Object.entries(area.by_status)
    .map(([s, n]) => `${code("status", s)} ${n}`)
    .join(" · ");
  return `<b>${area.name}</b><br>${t("open_events")} ${area.open} · ⚠${t("overdue")} ${area.overdue} · ◐${t(
    "near",
  )} ${area.near}<br>${statuses}`;
}

function describe(payload: MapPayload, sensors: SensorPayload | null): string {
  const top = [...payload.areas].sort((a, b) => b.open - a.open).slice(0, 3);
  const text = `${payload.area.name}: ${payload.events.total} ${t("open_events")}; ${top
    .map((a) => `${a.name} ${a.open}`)
    .join(", ")}`;
  if (!sensors) return text;
  return `${text}. ${t("sensors_on_map")}: ${HEALTH_ORDER.map((h) => `${code("health", h)} ${sensors.by_health[h] ?? 0}`).join(", ")}`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function overlaySeries(overlay: Overlay): echarts.EChartsCoreOption {
  return {
    type: overlay.effect ? "effectScatter" : "scatter",
    name: overlay.name,
    coordinateSystem: "geo",
    data: overlay.points.map((p) => ({
      value: [p.lon, p.lat],
      name: p.label,
      symbol: p.symbol,
      itemStyle: { color: p.colour },
    })),
    symbolSize: overlay.effect ? 16 : 9,
    rippleEffect: { scale: 2.5, brushType: "stroke" },
    label: { show: false },
    tooltip: { formatter: (p: { name: string }) => p.name },
    z: 6,
  };
}
